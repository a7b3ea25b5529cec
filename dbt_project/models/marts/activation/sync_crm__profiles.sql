-- Input of the CRM sync (config/syncs/crm_profiles.yml): the golden profile with its traits,
-- segments, propensity and the offer decided for email, for the call center and account owners.
with profiles as (

    select * from {{ ref('dim_customer_profiles') }}

),

memberships as (

    select * from {{ ref('segment_memberships') }}

),

scores as (

    select * from {{ source('ml', 'propensity_scores') }}

),

decisions as (

    select * from {{ ref('fct_decisions') }}

),

profile_segments as (

    select
        profile_id,
        {{ dbt.listagg('segment', "','", "order by segment") }} as segments
    from memberships
    group by profile_id

),

next_offer as (

    select
        profile_id,
        offer_id as next_best_offer
    from decisions
    where channel = 'email'
      and arm <> 'holdout'

),

final as (

    select
        p.profile_id,
        p.customer_id,
        p.email,
        p.phone,
        p.first_name,
        p.last_name,
        p.loyalty_tier,
        round(p.lifetime_value, 2) as lifetime_value,
        p.order_count,
        p.last_order_at,
        p.favourite_category,
        coalesce(s.segments, '') as segments,
        round(sc.score, 2) as purchase_propensity,
        n.next_best_offer
    from profiles as p
    left join profile_segments as s on s.profile_id = p.profile_id
    left join scores as sc on sc.profile_id = p.profile_id
    left join next_offer as n on n.profile_id = p.profile_id
    where p.email is not null or p.phone is not null

)

select * from final
