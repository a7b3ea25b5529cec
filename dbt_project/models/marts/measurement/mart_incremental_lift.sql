{#- The program's incremental lift: per experiment arm, profiles, converting profiles, conversion
    rate and revenue per profile, and the lift of each arm against the global holdout (which never
    receives marketing). The significance of these differences: `tessera experiments readout` and
    the Dagster asset experiments/nbo_readout. -#}
with outcomes as (

    select * from {{ ref('fct_decision_outcomes') }}

),

profiles as (

    select
        profile_id,
        max(arm) as arm,
        max(profile_converted) as converted,
        max(profile_revenue) as revenue
    from outcomes
    group by profile_id

),

arms as (

    select
        arm,
        count(*) as profiles,
        sum(converted) as converting_profiles,
        cast(sum(converted) as {{ tessera.type_double() }}) / count(*) as conversion_rate,
        cast(sum(revenue) as {{ tessera.type_double() }}) / count(*) as revenue_per_profile
    from profiles
    group by arm

),

holdout as (

    select conversion_rate as holdout_rate, revenue_per_profile as holdout_revenue_per_profile
    from arms where arm = 'holdout'

),

final as (

    select
        a.arm,
        a.profiles,
        a.converting_profiles,
        a.conversion_rate,
        a.revenue_per_profile,
        a.conversion_rate - h.holdout_rate as abs_lift_vs_holdout,
        a.conversion_rate / nullif(h.holdout_rate, 0) - 1 as rel_lift_vs_holdout,
        a.revenue_per_profile - h.holdout_revenue_per_profile as revenue_lift_vs_holdout,
        (a.conversion_rate - h.holdout_rate) * a.profiles as incremental_conversions
    from arms as a
    left join holdout as h on 1 = 1

)

select * from final
