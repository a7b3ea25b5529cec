{#- Event traits per profile, up to the run's as-of time: last activity, the latest app push
    token, and whether the profile has a web (browser) device. -#}
with

events as (

    select * from {{ ref('int_events_resolved') }}
    where profile_id is not null
      and occurred_at <= {{ tessera.tessera_as_of() }}

),

app_events as (

    select * from events
    where platform in ('ios', 'android')

),

activity as (

    select
        profile_id,
        max(occurred_at)                                        as last_seen_at,
        max(case when platform = 'web' then 1 else 0 end)       as has_web_device
    from events
    group by profile_id

),

push_tokens as (

    {{ tessera.latest_non_null('app_events', 'profile_id', ['push_token'], 'occurred_at desc, event_id desc') }}

),

final as (

    select
        activity.profile_id,
        activity.last_seen_at,
        activity.has_web_device = 1 as has_web_device,
        push_tokens.push_token
    from activity
    left join push_tokens
        on push_tokens.profile_id = activity.profile_id

)

select * from final
