{#- Contract 3: every shop order with its profile. The order's shop customer record decides the
    profile; orders whose customer has no shop record fall back to any record carrying the
    customer_id (e.g. a CRM contact); otherwise profile_id is null. -#}
with

orders as (

    select * from {{ ref('stg_shop__orders') }}

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
        orders.order_id,
        coalesce(record_profiles.profile_id, identifier_profiles.profile_id) as profile_id,
        orders.customer_id,
        orders.ordered_at,
        orders.status,
        orders.amount,
        orders.channel,
        orders.currency,
        orders.updated_at
    from orders
    left join record_profiles
        on record_profiles.record_id = {{ dbt.concat(["'shop:'", 'orders.customer_id']) }}
    left join identifier_profiles
        on identifier_profiles.id_value = orders.customer_id

)

select * from final
