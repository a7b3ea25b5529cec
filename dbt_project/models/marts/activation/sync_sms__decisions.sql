-- Input of the SMS sync (config/syncs/sms_decisions.yml).
with deliverable as (

    select * from {{ ref('int_decisions_deliverable') }}

),

final as (

    select
        decision_key,
        profile_id,
        phone,
        offer_id,
        offer_name,
        message,
        arm,
        reason_code,
        model_version,
        decision_id
    from deliverable
    where channel = 'sms'
      and phone is not null

)

select * from final
