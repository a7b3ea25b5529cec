{#- Contract 3: every event with its profile: through its device record (web:<anonymous_id>),
    else through its user id (customer_id). -#}
with

events as (

    select * from {{ ref('stg_web__events') }}

),

record_profiles as (

    select * from {{ source('identity', 'record_profiles') }}

),

identifier_profiles as (

    select * from {{ ref('int_identifier_profiles') }}
    where id_type = 'customer_id'

),

final as (

    select
        events.event_id,
        coalesce(record_profiles.profile_id, identifier_profiles.profile_id) as profile_id,
        events.event_type,
        events.event_name,
        events.occurred_at,
        events.platform,
        events.product_id,
        events.category,
        events.revenue,
        events.anonymous_id,
        events.customer_id,
        events.device_id,
        events.push_token,
        events.order_id,
        events.price,
        events.quantity,
        events.page_url,
        events.received_at
    from events
    left join record_profiles
        on record_profiles.record_id = {{ dbt.concat(["'web:'", 'events.anonymous_id']) }}
    left join identifier_profiles
        on identifier_profiles.id_value = events.customer_id

)

select * from final
