-- Marketing touches before this run's as-of time, the history that frequency caps and the fatigue
-- budget count: messages the syncs delivered (the exposure log, experiments.exposures) and
-- 'delivered' events of channel feedback (messages sent by other tools). Touches of the current
-- cycle (decided at the as-of time itself) are not history, so rerunning a cycle decides the same.
{{ config(materialized='table') }}

with from_exposures as (

    select * from {{ tessera_exposure_touches() }}

),

feedback as (

    select * from {{ ref('stg_feedback__channel_feedback') }}

),

identifier_profiles as (

    select * from {{ ref('int_identifier_profiles') }}

),

from_feedback as (

    select
        coalesce(by_customer.profile_id, by_email.profile_id) as profile_id,
        f.channel,
        f.offer_id,
        cast(f.occurred_at as {{ dbt.type_timestamp() }}) as touched_at,
        'feedback' as touch_source,
        f.feedback_id as touch_ref
    from feedback as f
    left join identifier_profiles as by_customer
        on by_customer.id_type = 'customer_id'
        and by_customer.id_value = f.customer_id
    left join identifier_profiles as by_email
        on by_email.id_type = 'email'
        and by_email.id_value = f.email
    where f.event_type = 'delivered'

),

unioned as (

    select * from from_exposures
    union all
    select * from from_feedback

),

final as (

    select
        profile_id,
        channel,
        offer_id,
        touched_at,
        touch_source
    from unioned
    where profile_id is not null
      and touched_at < cast({{ tessera_as_of() }} as {{ dbt.type_timestamp() }})
      and touched_at >= cast({{ dbt.dateadd('day', -90, tessera_as_of()) }} as {{ dbt.type_timestamp() }})

)

select * from final
