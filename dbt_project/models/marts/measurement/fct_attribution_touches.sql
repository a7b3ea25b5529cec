{#- The marketing touches that attribution (measurement/attribution_credits) credits:

    - every decision a sync delivered (the exposure log), at its decision time
      (macro tessera_exposure_touches, shared with the fatigue history int_decision_touches);
    - every 'delivered' channel feedback event (messages sent by any tool), unless it is the same
      message as an exposure (same profile, channel and offer, within a day after the decision).
    Builds empty of exposures when no sync has delivered yet. -#}
with

responses as (

    select * from {{ ref('fct_channel_responses') }}

),

from_exposures as (

    select * from {{ tessera_exposure_touches() }}

),

from_feedback as (

    select
        r.profile_id,
        r.channel,
        r.offer_id,
        cast(r.occurred_at as {{ dbt.type_timestamp() }}) as touched_at,
        'feedback' as touch_source,
        r.feedback_id as touch_ref
    from responses as r
    where r.event_type = 'delivered'
      and r.profile_id is not null
      and r.occurred_at is not null
      and not exists (
          select 1
          from from_exposures as e
          where e.profile_id = r.profile_id
            and e.channel = r.channel
            and e.offer_id = r.offer_id
            and cast(r.occurred_at as {{ dbt.type_timestamp() }}) >= e.touched_at
            and cast(r.occurred_at as {{ dbt.type_timestamp() }}) < {{ dbt.dateadd('day', 1, 'e.touched_at') }}
      )

),

final as (

    select * from from_exposures
    union all
    select * from from_feedback

)

select * from final
