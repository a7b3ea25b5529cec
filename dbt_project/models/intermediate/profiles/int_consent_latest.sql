{#-
  Contract 3: the latest consent status per (profile, channel, purpose).
  A consent event reaches a profile through its customer_id, else its email, else its phone.
  Events that match no profile, and events after the run's as-of time, are dropped. Ties at the same instant resolve to opt_out
  (the conservative choice), then to the greatest consent_id.
-#}
with

consent_events as (

    select * from {{ ref('stg_consent__events') }}

),

identifier_profiles as (

    select * from {{ ref('int_identifier_profiles') }}

),

resolved as (

    select
        consent_events.*,
        coalesce(by_customer.profile_id, by_email.profile_id, by_phone.profile_id) as profile_id
    from consent_events
    left join identifier_profiles as by_customer
        on by_customer.id_type = 'customer_id'
        and by_customer.id_value = consent_events.customer_id
    left join identifier_profiles as by_email
        on by_email.id_type = 'email'
        and by_email.id_value = consent_events.email
    left join identifier_profiles as by_phone
        on by_phone.id_type = 'phone'
        and by_phone.id_value = consent_events.phone

),

ranked as (

    select
        *,
        row_number() over (
            partition by profile_id, channel, purpose
            order by
                occurred_at desc nulls last,
                case when status = 'opt_out' then 0 else 1 end,
                consent_id desc
        ) as consent_rank
    from resolved
    where profile_id is not null
      and occurred_at is not null
      and occurred_at <= {{ tessera.tessera_as_of() }}

),

final as (

    select
        profile_id,
        channel,
        purpose,
        status,
        occurred_at,
        consent_id,
        consent_source
    from ranked
    where consent_rank = 1

)

select * from final
