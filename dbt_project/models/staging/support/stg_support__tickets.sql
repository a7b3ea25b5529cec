with

source as (

    select * from {{ source('raw', 'support_tickets') }}

),

renamed as (

    select
        cast(ticket_id as {{ dbt.type_string() }})            as ticket_id,
        {{ tessera.normalize_email('requester_email') }}      as requester_email,
        {{ tessera.normalize_phone('requester_phone') }}      as requester_phone,
        {{ tessera.nullif_blank('requester_name') }}          as requester_name,
        {{ tessera.split_full_name('requester_name', 'first') }} as requester_first_name,
        {{ tessera.split_full_name('requester_name', 'last') }}  as requester_last_name,
        {{ tessera.nullif_blank('subject') }}                 as subject,
        lower(trim(category))                                 as category,
        lower(trim(status))                                   as status,
        lower(trim(priority))                                 as priority,
        {{ dbt.safe_cast('csat', dbt.type_int()) }}           as csat,
        {{ tessera.safe_timestamp('created_at') }}            as created_at,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where ticket_id is not null

),

normalized as (

    select
        *,
        {{ tessera.normalize_name('requester_first_name') }}  as requester_first_name_normalized,
        {{ tessera.normalize_name('requester_last_name') }}   as requester_last_name_normalized
    from renamed

),

final as (

    select * from normalized

)

select * from final
