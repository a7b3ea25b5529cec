-- Next best offer per profile and channel.
--
-- 1. Channels a profile can receive: an identifier for the channel and a current opt-in for the
--    channel's consent purpose (config/offers.yml: channels).
-- 2. Candidate offers: eligible (int_offer_eligibility), valid at the as-of time.
-- 3. Ranking per profile by expected value = propensity score x offer value, ties broken by
--    priority then offer id. The profile's global rank makes the same offer win on every channel
--    where it runs (omnichannel consistency); a channel the winner does not run on gets the next one.
-- 4. Experiment arm from a salted hash of the profile id: holdout (no marketing; the row records
--    what would have been sent), control (default experience) or treatment.
-- 5. Too little data, or no eligible offer for the channel: the channel's default offer.
{{ config(materialized='table') }}

with profiles as (

    select * from {{ ref('dim_customer_profiles') }}

),

scores as (

    select * from {{ source('ml', 'propensity_scores') }}

),

eligibility as (

    select * from {{ ref('int_offer_eligibility') }}

),

offers as (

    select * from {{ ref('offers') }}

),

offer_channels as (

    select * from {{ ref('offer_channels') }}

),

channels as (

    select * from {{ ref('channels') }}

),

experiment as (

    select * from {{ ref('experiment') }}

),

consent as (

    select * from {{ ref('int_consent_latest') }}

),

events as (

    select * from {{ ref('int_events_resolved') }}

),

recent_activity as (

    select
        profile_id,
        count(*) as events_90d
    from events
    where occurred_at > {{ dbt.dateadd('day', -90, tessera_as_of()) }}
      and occurred_at <= {{ tessera_as_of() }}
    group by profile_id

),

reachable as (

    select
        p.profile_id,
        c.channel,
        c.consent_purpose,
        k.occurred_at as consent_given_at
    from profiles as p
    cross join channels as c
    inner join consent as k
        on k.profile_id = p.profile_id
        and k.channel = c.channel
        and k.purpose = c.consent_purpose
        and k.status = 'opt_in'
    where
        (c.channel = 'email' and p.email is not null)
        or (c.channel = 'sms' and p.phone is not null)
        or (c.channel = 'push' and p.push_token is not null)
        or (c.channel = 'web' and p.web_reachable)

),

profile_context as (

    select
        p.profile_id,
        s.score,
        cast(s.model_version as {{ dbt.type_string() }}) as model_version,
        coalesce(p.order_count, 0) >= x.min_orders
            or coalesce(a.events_90d, 0) >= x.min_events as is_personalizable,
        {{ tessera_bucket(dbt.concat(['x.salt', "':'", 'p.profile_id'])) }} as bucket,
        x.holdout_percent,
        x.control_percent,
        x.rules_version
    from profiles as p
    cross join experiment as x
    left join scores as s on s.profile_id = p.profile_id
    left join recent_activity as a on a.profile_id = p.profile_id

),

assigned as (

    select
        *,
        case
            when bucket < holdout_percent * 100 then 'holdout'
            when bucket < (holdout_percent + control_percent) * 100 then 'control'
            else 'treatment'
        end as arm
    from profile_context

),

baseline as (

    -- profiles the model has not scored yet use the average score
    select coalesce(avg(score), 0.0) as avg_score from scores

),

candidates as (

    select
        e.profile_id,
        o.offer_id,
        o.value,
        o.priority,
        coalesce(a.score, b.avg_score) as score,
        coalesce(a.score, b.avg_score) * o.value as expected_value
    from eligibility as e
    inner join offers as o
        on o.offer_id = e.offer_id
        and not o.is_default
        and (o.valid_from is null or o.valid_from <= {{ tessera_as_of() }})
        and (o.valid_to is null or o.valid_to > {{ tessera_as_of() }})
    inner join assigned as a on a.profile_id = e.profile_id
    cross join baseline as b

),

ranked as (

    select
        *,
        row_number() over (
            partition by profile_id
            order by expected_value desc, priority desc, offer_id
        ) as offer_rank
    from candidates

),

best_per_channel as (

    select
        r.profile_id,
        r.channel,
        k.offer_id,
        k.score,
        k.expected_value,
        row_number() over (partition by r.profile_id, r.channel order by k.offer_rank) as pick
    from reachable as r
    inner join ranked as k on k.profile_id = r.profile_id
    inner join offer_channels as oc on oc.offer_id = k.offer_id and oc.channel = r.channel

),

defaults as (

    select
        oc.channel,
        o.offer_id,
        o.value
    from offers as o
    inner join offer_channels as oc on oc.offer_id = o.offer_id
    where o.is_default

),

decided as (

    select
        r.profile_id,
        r.channel,
        a.arm,
        a.model_version,
        a.rules_version,
        r.consent_purpose,
        r.consent_given_at,
        case
            when a.arm = 'control' or not a.is_personalizable or b.offer_id is null then d.offer_id
            else b.offer_id
        end as offer_id,
        case
            when a.arm = 'control' or not a.is_personalizable or b.offer_id is null then true
            else false
        end as is_default,
        case
            when a.arm = 'holdout' then 'holdout_no_marketing'
            when a.arm = 'control' then 'control_default_experience'
            when not a.is_personalizable then 'default_insufficient_data'
            when b.offer_id is null then 'default_no_eligible_offer'
            else 'top_expected_value'
        end as reason_code,
        a.score,
        case
            when a.arm = 'control' or not a.is_personalizable or b.offer_id is null
                then coalesce(a.score, 0.0) * d.value
            else b.expected_value
        end as expected_value
    from reachable as r
    inner join assigned as a on a.profile_id = r.profile_id
    inner join defaults as d on d.channel = r.channel
    left join best_per_channel as b
        on b.profile_id = r.profile_id
        and b.channel = r.channel
        and b.pick = 1

),

final as (

    select
        -- the same decision keeps its id across runs (a retrained model alone does not change it)
        {{ dbt.hash(dbt.concat([
            'profile_id', "'|'", 'channel', "'|'", 'offer_id', "'|'", 'arm', "'|'", 'rules_version'
        ])) }} as decision_id,
        profile_id,
        channel,
        offer_id,
        is_default,
        arm,
        reason_code,
        score,
        expected_value,
        model_version,
        rules_version,
        consent_purpose,
        consent_given_at,
        {{ tessera_as_of() }} as decided_at
    from decided

)

select * from final
