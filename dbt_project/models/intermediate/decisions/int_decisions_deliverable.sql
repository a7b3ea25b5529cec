-- Decisions that may be delivered (every arm but the holdout), with the profile's contact
-- details, the offer's content for the channel and the profile's recommended products (the same
-- on every channel), templates rendered.
with decisions as (

    select * from {{ ref('fct_decisions') }}

),

profiles as (

    select * from {{ ref('dim_customer_profiles') }}

),

offers as (

    select * from {{ ref('offers') }}

),

offer_channels as (

    select * from {{ ref('offer_channels') }}

),

recommendations as (

    select * from {{ ref('int_decision_recommendations') }}

),

joined as (

    select
        -- ids
        -- one message per profile, channel and send cycle (the run's as-of date)
        {{ dbt.concat(['d.profile_id', "':'", 'd.channel', "':'", 'd.cycle']) }} as decision_key,
        d.decision_id,
        d.cycle,
        d.profile_id,
        d.channel,
        d.offer_id,
        -- contact
        p.email,
        p.phone,
        p.push_token,
        p.first_name,
        p.last_name,
        -- content
        o.offer_name,
        oc.subject,
        oc.body,
        oc.title,
        oc.message,
        oc.headline,
        r.recommended_product_ids,
        r.recommended_products,
        -- decision record
        d.is_default,
        d.arm,
        d.reason_code,
        d.score,
        d.expected_value,
        d.model_version,
        d.rules_version,
        d.decided_at
    from decisions as d
    inner join profiles as p on p.profile_id = d.profile_id
    inner join offers as o on o.offer_id = d.offer_id
    inner join offer_channels as oc on oc.offer_id = d.offer_id and oc.channel = d.channel
    left join recommendations as r on r.profile_id = d.profile_id
    where d.is_deliverable  -- not the holdout, not held back by fatigue or quiet hours

),

final as (

    select
        decision_key,
        decision_id,
        cycle,
        profile_id,
        channel,
        offer_id,
        email,
        phone,
        push_token,
        first_name,
        last_name,
        offer_name,
        {{ tessera_render('subject') }} as subject,
        {{ tessera_render('body') }} as body,
        {{ tessera_render('title') }} as title,
        {{ tessera_render('message') }} as message,
        {{ tessera_render('headline') }} as headline,
        recommended_product_ids,
        recommended_products,
        is_default,
        arm,
        reason_code,
        score,
        expected_value,
        model_version,
        rules_version,
        decided_at
    from joined

)

select * from final
