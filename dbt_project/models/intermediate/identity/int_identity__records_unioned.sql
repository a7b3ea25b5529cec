{#- Every person-bearing record from every source, with matching (normalized) and display
    attributes. int_identity__records exposes the Contract 3 columns of this model. -#}
with

shop_customers as (

    select * from {{ ref('stg_shop__customers') }}

),

crm_contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

loyalty_members as (

    select * from {{ ref('stg_loyalty__members') }}

),

support_tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

web_devices as (

    select * from {{ ref('int_identity__web_devices') }}

),

shop_records as (

    select
        {{ dbt.concat(["'shop:'", 'customer_id']) }}        as record_id,
        'shop'                                              as source,
        customer_id                                         as source_record_id,
        first_name_normalized                               as first_name,
        last_name_normalized                                as last_name,
        email,
        phone,
        customer_id,
        cast(null as {{ dbt.type_string() }})               as loyalty_id,
        cast(null as {{ dbt.type_string() }})               as device_id,
        date_of_birth,
        street,
        city,
        postcode,
        country,
        updated_at,
        first_name                                          as first_name_display,
        last_name                                           as last_name_display,
        created_at,
        cast(null as {{ dbt.type_string() }})               as loyalty_tier,
        cast(null as {{ dbt.type_string() }})               as push_token
    from shop_customers

),

crm_records as (

    select
        {{ dbt.concat(["'crm:'", 'crm_id']) }}              as record_id,
        'crm'                                               as source,
        crm_id                                              as source_record_id,
        first_name_normalized                               as first_name,
        last_name_normalized                                as last_name,
        email,
        phone,
        customer_id,
        cast(null as {{ dbt.type_string() }})               as loyalty_id,
        cast(null as {{ dbt.type_string() }})               as device_id,
        cast(null as date)                                  as date_of_birth,
        cast(null as {{ dbt.type_string() }})               as street,
        cast(null as {{ dbt.type_string() }})               as city,
        cast(null as {{ dbt.type_string() }})               as postcode,
        cast(null as {{ dbt.type_string() }})               as country,
        updated_at,
        first_name                                          as first_name_display,
        last_name                                           as last_name_display,
        created_at,
        cast(null as {{ dbt.type_string() }})               as loyalty_tier,
        cast(null as {{ dbt.type_string() }})               as push_token
    from crm_contacts

),

loyalty_records as (

    select
        {{ dbt.concat(["'loyalty:'", 'loyalty_id']) }}      as record_id,
        'loyalty'                                           as source,
        loyalty_id                                          as source_record_id,
        first_name_normalized                               as first_name,
        last_name_normalized                                as last_name,
        email,
        phone,
        customer_id,
        loyalty_id,
        cast(null as {{ dbt.type_string() }})               as device_id,
        date_of_birth,
        cast(null as {{ dbt.type_string() }})               as street,
        cast(null as {{ dbt.type_string() }})               as city,
        cast(null as {{ dbt.type_string() }})               as postcode,
        cast(null as {{ dbt.type_string() }})               as country,
        updated_at,
        first_name                                          as first_name_display,
        last_name                                           as last_name_display,
        enrolled_at                                         as created_at,
        tier                                                as loyalty_tier,
        cast(null as {{ dbt.type_string() }})               as push_token
    from loyalty_members

),

support_records as (

    select
        {{ dbt.concat(["'support:'", 'ticket_id']) }}       as record_id,
        'support'                                           as source,
        ticket_id                                           as source_record_id,
        requester_first_name_normalized                     as first_name,
        requester_last_name_normalized                      as last_name,
        requester_email                                     as email,
        requester_phone                                     as phone,
        cast(null as {{ dbt.type_string() }})               as customer_id,
        cast(null as {{ dbt.type_string() }})               as loyalty_id,
        cast(null as {{ dbt.type_string() }})               as device_id,
        cast(null as date)                                  as date_of_birth,
        cast(null as {{ dbt.type_string() }})               as street,
        cast(null as {{ dbt.type_string() }})               as city,
        cast(null as {{ dbt.type_string() }})               as postcode,
        cast(null as {{ dbt.type_string() }})               as country,
        updated_at,
        requester_first_name                                as first_name_display,
        requester_last_name                                 as last_name_display,
        created_at,
        cast(null as {{ dbt.type_string() }})               as loyalty_tier,
        cast(null as {{ dbt.type_string() }})               as push_token
    from support_tickets

),

web_records as (

    select
        {{ dbt.concat(["'web:'", 'anonymous_id']) }}        as record_id,
        'web'                                               as source,
        anonymous_id                                        as source_record_id,
        first_name_normalized                               as first_name,
        last_name_normalized                                as last_name,
        email,
        phone,
        customer_id,
        cast(null as {{ dbt.type_string() }})               as loyalty_id,
        device_id,
        cast(null as date)                                  as date_of_birth,
        cast(null as {{ dbt.type_string() }})               as street,
        cast(null as {{ dbt.type_string() }})               as city,
        cast(null as {{ dbt.type_string() }})               as postcode,
        cast(null as {{ dbt.type_string() }})               as country,
        last_seen_at                                        as updated_at,
        first_name                                          as first_name_display,
        last_name                                           as last_name_display,
        first_seen_at                                       as created_at,
        cast(null as {{ dbt.type_string() }})               as loyalty_tier,
        push_token
    from web_devices

),

unioned as (

    select * from shop_records
    union all
    select * from crm_records
    union all
    select * from loyalty_records
    union all
    select * from support_records
    union all
    select * from web_records

),

final as (

    select
        record_id,
        source,
        source_record_id,
        first_name,
        last_name,
        nullif(trim({{ dbt.concat(["coalesce(first_name, '')", "' '", "coalesce(last_name, '')"]) }}), '') as full_name,
        email,
        phone,
        customer_id,
        loyalty_id,
        device_id,
        date_of_birth,
        street,
        city,
        postcode,
        country,
        updated_at,
        first_name_display,
        last_name_display,
        created_at,
        loyalty_tier,
        push_token,
        case source
            when 'shop' then 1
            when 'crm' then 2
            when 'loyalty' then 3
            when 'support' then 4
            else 5
        end                                                 as source_priority
    from unioned

)

select * from final
