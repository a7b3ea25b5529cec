with

source as (

    select * from {{ source('raw', 'shop_customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }})          as customer_id,
        {{ tessera.normalize_email('email') }}                as email,
        {{ tessera.normalize_phone('phone') }}                as phone,
        {{ tessera.nullif_blank('first_name') }}              as first_name,
        {{ tessera.nullif_blank('last_name') }}               as last_name,
        {{ tessera.normalize_name('first_name') }}            as first_name_normalized,
        {{ tessera.normalize_name('last_name') }}             as last_name_normalized,
        {{ tessera.safe_date('date_of_birth') }}              as date_of_birth,
        {{ tessera.nullif_blank('street') }}                  as street,
        {{ tessera.nullif_blank('city') }}                    as city,
        {{ tessera.nullif_blank('postcode') }}                as postcode,
        {{ tessera.nullif_blank('state') }}                   as state,
        upper({{ tessera.nullif_blank('country') }})          as country,
        {{ tessera.safe_timestamp('created_at') }}            as created_at,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where customer_id is not null

),

final as (

    select * from renamed

)

select * from final
