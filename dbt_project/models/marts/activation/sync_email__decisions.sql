-- Input of the email sync (config/syncs/email_decisions.yml): one message per reachable profile.
with deliverable as (

    select * from {{ ref('int_decisions_deliverable') }}

),

final as (

    select
        decision_key,
        profile_id,
        email,
        first_name,
        offer_id,
        offer_name,
        subject,
        body,
        arm,
        reason_code,
        model_version,
        decision_id
    from deliverable
    where channel = 'email'
      and email is not null

)

select * from final
