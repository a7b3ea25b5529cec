with

source as (

    select * from {{ source('raw', 'channel_feedback') }}

),

renamed as (

    select
        cast(feedback_id as {{ dbt.type_string() }})          as feedback_id,
        {{ tessera.nullif_blank('message_id') }}              as message_id,
        {{ tessera.nullif_blank('campaign_id') }}             as campaign_id,
        {{ tessera.nullif_blank('offer_id') }}                as offer_id,
        lower(trim(channel))                                  as channel,
        {{ tessera.nullif_blank('customer_id') }}             as customer_id,
        {{ tessera.normalize_email('email') }}                as email,
        lower(trim(event_type))                               as event_type,
        {{ tessera.safe_timestamp('occurred_at') }}           as occurred_at,
        cast(revenue as {{ tessera.type_double() }})               as revenue

    from source
    where feedback_id is not null

),

final as (

    select * from renamed

)

select * from final
