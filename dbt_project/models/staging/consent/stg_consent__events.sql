with

source as (

    select * from {{ source('raw', 'consent_events') }}

),

renamed as (

    select
        cast(consent_id as {{ dbt.type_string() }})           as consent_id,
        {{ tessera.nullif_blank('customer_id') }}             as customer_id,
        {{ tessera.normalize_email('email') }}                as email,
        {{ tessera.normalize_phone('phone') }}                as phone,
        lower(trim(channel))                                  as channel,
        lower(trim(purpose))                                  as purpose,
        {{ tessera.regexp_replace_all('lower(trim(status))', '[- ]', '_') }} as status,
        {{ tessera.safe_timestamp('occurred_at') }}           as occurred_at,
        lower(trim(source))                                   as consent_source

    from source
    where consent_id is not null

),

final as (

    select * from renamed

)

select * from final
