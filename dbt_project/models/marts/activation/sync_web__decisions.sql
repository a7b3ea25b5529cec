-- Input of the web personalization sync (config/syncs/web_decisions.yml): what the website shows
-- each known visitor's profile, with the products recommended to them.
-- Only what the channel needs: a retrained model with the same decision must not cause a resend
-- (model_version stays in decisions.fct_decisions for audit).
with deliverable as (

    select * from {{ ref('int_decisions_deliverable') }}

),

final as (

    select
        decision_key,
        profile_id,
        offer_id,
        offer_name,
        headline,
        message,
        recommended_product_ids,
        recommended_products,
        arm,
        reason_code,
        decision_id
    from deliverable
    where channel = 'web'

)

select * from final
