with

source as (

    select * from {{ source('raw', 'events') }}

),

renamed as (

    select
        cast(message_id as {{ dbt.type_string() }})                  as event_id,
        _dlt_id                                                      as event_dlt_id,
        lower(trim(type))                                            as event_type,
        coalesce({{ tessera.nullif_blank('event') }}, {{ tessera.nullif_blank('name') }}) as event_name,
        {{ tessera.nullif_blank('anonymous_id') }}                   as anonymous_id,
        {{ tessera.nullif_blank('user_id') }}                        as customer_id,
        {{ tessera.safe_timestamp(adapter.quote('timestamp')) }}                 as occurred_at,
        {{ tessera.safe_timestamp('sent_at') }}                      as sent_at,
        {{ tessera.safe_timestamp('received_at') }}                  as received_at,
        case
            when lower(trim(context__device__type)) in ('ios', 'android')
                then lower(trim(context__device__type))
            else 'web'
        end                                                          as platform,
        coalesce(
            {{ tessera.nullif_blank('context__device__id') }},
            {{ tessera.nullif_blank('anonymous_id') }}
        )                                                            as device_id,
        {{ tessera.nullif_blank('context__device__token') }}         as push_token,
        context__ip                                                  as ip,
        context__user_agent                                          as user_agent,
        context__page__url                                           as page_url,
        context__page__path                                          as page_path,
        context__page__referrer                                      as page_referrer,
        context__campaign__source                                    as campaign_source,
        context__campaign__medium                                    as campaign_medium,
        context__campaign__name                                      as campaign_name,
        {{ tessera.normalize_email('traits__email') }}               as email,
        {{ tessera.normalize_phone('traits__phone') }}               as phone,
        {{ tessera.nullif_blank('traits__first_name') }}             as first_name,
        {{ tessera.nullif_blank('traits__last_name') }}              as last_name,
        {{ tessera.normalize_name('traits__first_name') }}           as first_name_normalized,
        {{ tessera.normalize_name('traits__last_name') }}            as last_name_normalized,
        {{ tessera.nullif_blank('properties__product_id') }}         as product_id,
        {{ tessera.nullif_blank('properties__name') }}               as product_name,
        lower(trim(properties__category))                            as category,
        cast(properties__price as {{ tessera.type_double() }})            as price,
        cast(properties__quantity as {{ dbt.type_int() }})           as quantity,
        {{ tessera.nullif_blank('properties__order_id') }}           as order_id,
        cast(properties__revenue as {{ tessera.type_double() }})          as revenue,
        upper(trim(properties__currency))                            as currency,
        _source_file                                                 as source_file,
        _dlt_load_id                                                 as dlt_load_id

    from source
    where message_id is not null

),

{#- dlt merges on message_id; this guards against duplicates that slip through (e.g. append loads). -#}
deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id
            order by received_at, dlt_load_id, event_dlt_id
        ) as event_rank
    from renamed

),

final as (

    select * from deduplicated
    where event_rank = 1

)

select * from final
