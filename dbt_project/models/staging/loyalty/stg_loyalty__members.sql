with

source as (

    select * from {{ source('raw', 'loyalty_members') }}

),

renamed as (

    select
        cast(member_id as {{ dbt.type_string() }})            as loyalty_id,
        {{ tessera.nullif_blank('customer_id') }}             as customer_id,
        {{ tessera.normalize_email('email') }}                as email,
        {{ tessera.normalize_phone('phone') }}                as phone,
        {{ tessera.nullif_blank('first_name') }}              as first_name,
        {{ tessera.nullif_blank('last_name') }}               as last_name,
        {{ tessera.normalize_name('first_name') }}            as first_name_normalized,
        {{ tessera.normalize_name('last_name') }}             as last_name_normalized,
        {{ tessera.nullif_blank('date_of_birth') }}           as date_of_birth_raw,
        {{ tessera.safe_date('date_of_birth') }}              as date_of_birth,
        lower(trim(tier))                                     as tier,
        cast(points_balance as {{ dbt.type_bigint() }})       as points_balance,
        {{ tessera.safe_timestamp('enrolled_at') }}           as enrolled_at,
        {{ tessera.safe_timestamp('last_activity_at') }}      as last_activity_at,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where member_id is not null

),

final as (

    select * from renamed

)

select * from final
