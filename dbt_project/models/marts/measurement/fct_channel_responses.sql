{#- One row per channel feedback event (delivered, opened, clicked, converted, unsubscribed),
    with the profile it reached: through customer_id, else email. -#}
{#- In the demo, the asset experiments/demo_responses feeds the recipients' feedback for this cycle's
    decisions into raw.channel_feedback before this pass; the source reference orders it first. -#}
{%- set after_demo_responses = source('experiments', 'demo_responses') %}
with

feedback as (

    select * from {{ ref('stg_feedback__channel_feedback') }}

),

identifier_profiles as (

    select * from {{ ref('int_identifier_profiles') }}

),

final as (

    select
        feedback.feedback_id,
        coalesce(by_customer.profile_id, by_email.profile_id) as profile_id,
        feedback.offer_id,
        feedback.channel,
        feedback.campaign_id,
        feedback.message_id,
        feedback.event_type,
        feedback.occurred_at,
        coalesce(feedback.revenue, 0) as revenue
    from feedback
    left join identifier_profiles as by_customer
        on by_customer.id_type = 'customer_id'
        and by_customer.id_value = feedback.customer_id
    left join identifier_profiles as by_email
        on by_email.id_type = 'email'
        and by_email.id_value = feedback.email

)

select * from final
