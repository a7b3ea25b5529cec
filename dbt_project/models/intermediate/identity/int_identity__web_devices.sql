{#- One row per anonymous_id (a browser or an app install): its latest identify traits,
    latest user id, device id, platform and push token. -#}
with

events as (

    select * from {{ ref('stg_web__events') }}
    where anonymous_id is not null

),

identifies as (

    select * from events
    where event_type = 'identify'

),

latest_traits as (

    {{ tessera.latest_non_null(
        'identifies', 'anonymous_id',
        ['email', 'phone', 'first_name', 'last_name', 'first_name_normalized', 'last_name_normalized'],
        'occurred_at desc, event_id desc') }}

),

latest_device as (

    {{ tessera.latest_non_null(
        'events', 'anonymous_id',
        ['customer_id', 'device_id', 'platform', 'push_token'],
        'occurred_at desc, event_id desc') }}

),

activity as (

    select
        anonymous_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(*)         as event_count
    from events
    group by anonymous_id

),

final as (

    select
        activity.anonymous_id,
        latest_device.customer_id,
        latest_device.device_id,
        latest_device.platform,
        latest_device.push_token,
        latest_traits.email,
        latest_traits.phone,
        latest_traits.first_name,
        latest_traits.last_name,
        latest_traits.first_name_normalized,
        latest_traits.last_name_normalized,
        activity.first_seen_at,
        activity.last_seen_at,
        activity.event_count
    from activity
    left join latest_device
        on latest_device.anonymous_id = activity.anonymous_id
    left join latest_traits
        on latest_traits.anonymous_id = activity.anonymous_id

)

select * from final
