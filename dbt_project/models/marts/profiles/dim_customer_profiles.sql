{#- Contract 3: one golden profile per resolved person, with the traits segments, decisions and
    activation read. Reachability = the identifier is present AND the latest consent for the
    channel's purpose is opt_in (no consent record means not reachable). -#}
with

golden as (

    select * from {{ ref('int_profile_traits__golden') }}

),

order_traits as (

    select * from {{ ref('int_profile_traits__orders') }}

),

engagement as (

    select * from {{ ref('int_profile_traits__engagement') }}

),

consent as (

    select * from {{ ref('int_profile_traits__consent') }}

),

joined as (

    select
        golden.profile_id,
        golden.first_name,
        golden.last_name,
        golden.email,
        golden.phone,
        golden.customer_id,
        golden.loyalty_id,
        golden.loyalty_tier,
        golden.loyalty_id is not null                                   as is_loyalty_member,
        golden.record_count,
        golden.source_count,
        coalesce(order_traits.lifetime_value, 0)                        as lifetime_value,
        coalesce(order_traits.order_count, 0)                           as order_count,
        order_traits.avg_order_value,
        order_traits.first_order_at,
        order_traits.last_order_at,
        {{ dbt.datediff('order_traits.last_order_at', tessera.tessera_as_of(), 'day') }}
                                                                        as days_since_last_order,
        order_traits.favourite_category,
        engagement.last_seen_at,
        engagement.push_token,
        coalesce(golden.email is not null
            and consent.email_marketing_status = 'opt_in', false)       as email_reachable,
        coalesce(golden.phone is not null
            and consent.sms_marketing_status = 'opt_in', false)         as sms_reachable,
        coalesce(engagement.push_token is not null
            and consent.push_marketing_status = 'opt_in', false)        as push_reachable,
        coalesce(engagement.has_web_device
            and consent.web_personalization_status = 'opt_in', false)   as web_reachable,
        golden.profile_created_at
    from golden
    left join order_traits
        on order_traits.profile_id = golden.profile_id
    left join engagement
        on engagement.profile_id = golden.profile_id
    left join consent
        on consent.profile_id = golden.profile_id

),

final as (

    select * from joined

)

select * from final
