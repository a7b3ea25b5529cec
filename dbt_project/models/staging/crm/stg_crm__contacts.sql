with

source as (

    select * from {{ source('raw', 'crm_contacts') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }})                   as crm_id,
        {{ tessera.nullif_blank('full_name') }}               as full_name,
        coalesce(
            {{ tessera.nullif_blank('first_name') }},
            {{ tessera.split_full_name('full_name', 'first') }}
        )                                                     as first_name,
        coalesce(
            {{ tessera.nullif_blank('last_name') }},
            {{ tessera.split_full_name('full_name', 'last') }}
        )                                                     as last_name,
        {{ tessera.normalize_email('email') }}                as email,
        {{ tessera.normalize_phone('phone') }}                as phone,
        {{ tessera.nullif_blank('company') }}                 as company,
        {{ tessera.nullif_blank('job_title') }}               as job_title,
        {{ tessera.nullif_blank('customer_id') }}             as customer_id,
        lower(trim(lifecycle_stage))                          as lifecycle_stage,
        {{ tessera.safe_timestamp('created_at') }}            as created_at,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where id is not null

),

normalized as (

    select
        *,
        {{ tessera.normalize_name('first_name') }}            as first_name_normalized,
        {{ tessera.normalize_name('last_name') }}             as last_name_normalized
    from renamed

),

final as (

    select * from normalized

)

select * from final
