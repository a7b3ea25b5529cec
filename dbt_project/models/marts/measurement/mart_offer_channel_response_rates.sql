{#- Response rates per (offer, channel). Counts are distinct messages (message_id, or the
    feedback_id when a message id is missing) that reached each stage; rates are per delivered
    message. -#}
{%- set stages = ['delivered', 'opened', 'clicked', 'converted', 'unsubscribed'] %}

with

responses as (

    select * from {{ ref('fct_channel_responses') }}

),

counts as (

    select
        coalesce(offer_id, '(none)') as offer_id,
        channel
        {%- for stage in stages %},
        count(distinct case when event_type = '{{ stage }}' then coalesce(message_id, feedback_id) end) as {{ stage }}
        {%- endfor %},
        sum(case when event_type = 'converted' then revenue else 0 end) as revenue
    from responses
    group by 1, 2

),

final as (

    select
        offer_id,
        channel,
        delivered,
        opened,
        clicked,
        converted,
        unsubscribed,
        cast(opened as {{ tessera.type_double() }}) / nullif(delivered, 0)       as open_rate,
        cast(clicked as {{ tessera.type_double() }}) / nullif(delivered, 0)      as click_rate,
        cast(converted as {{ tessera.type_double() }}) / nullif(delivered, 0)    as conversion_rate,
        cast(unsubscribed as {{ tessera.type_double() }}) / nullif(delivered, 0) as unsubscribe_rate,
        revenue
    from counts

)

select * from final
