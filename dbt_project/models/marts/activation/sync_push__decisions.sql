-- Input of the push sync (config/syncs/push_decisions.yml).
-- Only what the channel needs: a retrained model with the same decision must not cause a resend
-- (model_version stays in decisions.fct_decisions for audit).
with deliverable as (

    select * from {{ ref('int_decisions_deliverable') }}

),

final as (

    select
        decision_key,
        profile_id,
        push_token,
        offer_id,
        offer_name,
        title,
        message,
        arm,
        reason_code,
        decision_id
    from deliverable
    where channel = 'push'
      and push_token is not null

)

select * from final
