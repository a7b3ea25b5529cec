{#- Response rates per offer, channel, experiment arm and segment ('(none)': in no segment). Counts
    are decisions; rates are per decision delivered (delivered feedback) and per decision exposed. -#}
with outcomes as (

    select * from {{ ref('fct_decision_outcomes') }}

),

memberships as (
    {%- set memberships_ref = ref('segment_memberships') %}
    {%- if tessera_exists(memberships_ref) %}

    select profile_id, segment from {{ memberships_ref }}
    {%- else %}

    select cast(null as {{ dbt.type_string() }}) as profile_id, cast(null as {{ dbt.type_string() }}) as segment
    where 1 = 0
    {%- endif %}

),

segmented as (

    select o.*, coalesce(m.segment, '(none)') as segment
    from outcomes as o
    left join memberships as m on m.profile_id = o.profile_id

),

final as (

    select
        offer_id,
        channel,
        arm,
        segment,
        count(*) as decisions,
        sum(case when exposed then 1 else 0 end) as exposed,
        sum(delivered) as delivered,
        sum(opened) as opened,
        sum(clicked) as clicked,
        sum(converted) as converted,
        sum(unsubscribed) as unsubscribed,
        sum(revenue) as revenue,
        cast(sum(opened) as {{ tessera.type_double() }}) / nullif(sum(delivered), 0) as open_rate,
        cast(sum(clicked) as {{ tessera.type_double() }}) / nullif(sum(delivered), 0) as click_rate,
        cast(sum(converted) as {{ tessera.type_double() }}) / nullif(sum(delivered), 0) as conversion_rate,
        cast(sum(unsubscribed) as {{ tessera.type_double() }}) / nullif(sum(delivered), 0) as unsubscribe_rate
    from segmented
    group by offer_id, channel, arm, segment

)

select * from final
