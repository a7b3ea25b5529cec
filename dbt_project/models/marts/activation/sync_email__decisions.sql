-- Input of the email sync (config/syncs/email_decisions.yml): one message per reachable profile
-- and send cycle (decision_key = profile_id:channel:cycle).
-- Only what the channel needs: a retrained model with the same decision must not cause a resend
-- (model_version stays in decisions.fct_decisions for audit).
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
        recommended_product_ids,
        recommended_products,
        arm,
        reason_code,
        decision_id
    from deliverable
    where channel = 'email'
      and email is not null

)

select * from final
