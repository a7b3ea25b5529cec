{#- One row per decision, joined to the channel feedback it caused and to the profile's conversions.

    - Feedback caused by a decision: same profile, channel and offer, from the decision time until
      `attribution_days` (7) after it.
    - profile_converted / profile_revenue: any conversion of the profile in that window, on any
      channel; the holdout's outcome, so the program's lift is measured against it.
    - exposed: the decision is in the exposure log (a sync's destination acknowledged it).
    Builds empty when the decisions stage has not run yet. -#}
{%- set attribution_days = 7 %}
{%- set stages = ['delivered', 'opened', 'clicked', 'converted', 'unsubscribed'] %}
{%- set exposures_source = source('experiments', 'exposures') %}
{%- set decisions_ref = ref('fct_decisions') %}
{%- set ready = tessera_exists(decisions_ref) %}

{%- if ready %}
with decisions as (

    select * from {{ decisions_ref }}

),

responses as (

    select * from {{ ref('fct_channel_responses') }}
    where profile_id is not null

),

exposures as (

    select * from {{ tessera_exposures() }}

),

caused as (

    select
        d.decision_id
        {%- for stage in stages %},
        max(case when r.event_type = '{{ stage }}' then 1 else 0 end) as {{ stage }}
        {%- endfor %},
        sum(case when r.event_type = 'converted' then r.revenue else 0 end) as revenue
    from decisions as d
    inner join responses as r
        on r.profile_id = d.profile_id
        and r.channel = d.channel
        and r.offer_id = d.offer_id
        and r.occurred_at >= d.decided_at
        and r.occurred_at < {{ dbt.dateadd('day', attribution_days, 'd.decided_at') }}
    group by d.decision_id

),

profile_conversions as (

    select
        d.profile_id,
        max(case when r.event_type = 'converted' then 1 else 0 end) as profile_converted,
        sum(case when r.event_type = 'converted' then r.revenue else 0 end) as profile_revenue
    from (select distinct profile_id, decided_at from decisions) as d
    inner join responses as r
        on r.profile_id = d.profile_id
        and r.occurred_at >= d.decided_at
        and r.occurred_at < {{ dbt.dateadd('day', attribution_days, 'd.decided_at') }}
    group by d.profile_id

),

exposed as (

    select distinct decision_id from exposures

),

final as (

    select
        d.decision_id,
        d.profile_id,
        d.channel,
        d.offer_id,
        d.arm,
        d.campaign_arm,
        d.is_default,
        d.is_deliverable,
        d.reason_code,
        d.decided_at,
        e.decision_id is not null as exposed
        {%- for stage in stages %},
        coalesce(c.{{ stage }}, 0) as {{ stage }}
        {%- endfor %},
        coalesce(c.revenue, 0) as revenue,
        coalesce(p.profile_converted, 0) as profile_converted,
        coalesce(p.profile_revenue, 0) as profile_revenue
    from decisions as d
    left join caused as c on c.decision_id = d.decision_id
    left join profile_conversions as p on p.profile_id = d.profile_id
    left join exposed as e on e.decision_id = d.decision_id

)

select * from final
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as decision_id,
    cast(null as {{ dbt.type_string() }}) as profile_id,
    cast(null as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as offer_id,
    cast(null as {{ dbt.type_string() }}) as arm,
    cast(null as {{ dbt.type_string() }}) as campaign_arm,
    cast(null as boolean) as is_default,
    cast(null as boolean) as is_deliverable,
    cast(null as {{ dbt.type_string() }}) as reason_code,
    cast(null as {{ dbt.type_timestamp() }}) as decided_at,
    cast(null as boolean) as exposed
    {%- for stage in stages %},
    cast(null as integer) as {{ stage }}
    {%- endfor %},
    cast(null as double) as revenue,
    cast(null as integer) as profile_converted,
    cast(null as double) as profile_revenue
where 1 = 0
{%- endif %}
