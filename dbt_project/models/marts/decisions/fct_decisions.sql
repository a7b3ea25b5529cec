-- Next best offer per profile and channel: the arbitration, in SQL in the warehouse.
--
-- 1. Eligibility: candidate offers (int_offer_eligibility) valid at the as-of time.
-- 2. Consent and suppression: a channel needs its identifier and a current opt-in for the
--    channel's consent purpose (config/offers.yml: channels); without it there is no row at all.
-- 3. Frequency caps: an offer the customer already got cap_max times in cap_days is not a
--    candidate; an offer whose global budget (stock) is used up is not a candidate (the stock left
--    goes to the customers with the highest expected value for it). Then one fatigue budget per
--    customer across all marketing channels (fatigue.max_touches in fatigue.window_days, touches
--    from int_decision_touches) and quiet hours per channel hold back what would be sent. Quiet
--    hours are on the customer's clock: the profile's time zone if it has one (`timezone`), else
--    the channel's configured UTC offset.
-- 4. Ranking by expected value = propensity score x the offer's value for the profile, ties
--    broken by priority then offer id: per profile and reachable channel, the first candidate in
--    that one order among the offers running on the channel. One order for all of the profile's
--    channels makes the same offer win on every channel where it runs (omnichannel consistency);
--    a channel the winner does not run on gets the next one.
-- Speed (benchmarks/decide): candidates are joined to the reachable channels before the single
-- ranking pass (no profile-wide rank, no group-by and join back), and only the rows that would
-- go out are ranked for the fatigue budget.
-- Experiment arm from a salted hash of the profile id: holdout (no marketing; the row records
-- what would have been sent), control (default experience) or treatment; an offer's own
-- control group (control_percent) gives some of its winners the default experience.
-- Too little data, or no eligible offer for the channel: the channel's default offer.
-- Every row carries its reason codes, the catalog/rules/model versions, the consent it relied on,
-- and whether it may be delivered now (is_deliverable); int_decisions_deliverable sends only those.
with profiles as (

    select * from {{ ref('dim_customer_profiles') }}

),

scores as (

    select * from {{ source('ml', 'propensity_scores') }}

),

baseline as (

    -- profiles the model has not scored yet use the average score
    select
        coalesce(avg(score), 0.0) as avg_score,
        max(cast(model_version as {{ dbt.type_string() }})) as model_version
    from scores

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

{#- quiet hours run on the customer's clock: the profile's time zone when the profiles carry one
    (an optional `timezone` trait, IANA names) and it is a known zone, else the channel's configured
    UTC offset -#}
{%- set profile_zone = tessera_has_column(ref('dim_customer_profiles'), 'timezone') %}
{%- if profile_zone %}
zone_clock as (

    -- the local minute of the as-of time in every time zone the profiles use (once per zone)
    select
        z.timezone,
        {{ tessera_local_minute_in_zone(tessera_as_of(), 'z.timezone') }} as zone_minute
    from (select distinct timezone from profiles where timezone is not null) as z

),

{% endif %}
reachable_clock as (

    select
        p.profile_id,
        c.channel,
        c.consent_purpose,
        k.status as consent_status,
        k.occurred_at as consent_given_at,
        c.counts_toward_fatigue,
        c.channel_rank,
        c.quiet_start_minute,
        c.quiet_end_minute,
        {%- if profile_zone %}
        coalesce(zc.zone_minute, mod(mod(q.utc_minute + c.utc_offset_minutes, 1440) + 1440, 1440)) as local_minute
        {%- else %}
        mod(mod(q.utc_minute + c.utc_offset_minutes, 1440) + 1440, 1440) as local_minute
        {%- endif %}
    from profiles as p
    cross join channels as c
    cross join (
        select {{ tessera_local_minute(tessera_as_of(), 0) }} as utc_minute
    ) as q
    inner join consent as k
        on k.profile_id = p.profile_id
        and k.channel = c.channel
        and k.purpose = c.consent_purpose
        and k.status = 'opt_in'
    {%- if profile_zone %}
    left join zone_clock as zc on zc.timezone = p.timezone
    {%- endif %}
    where
        (c.channel = 'email' and p.email is not null)
        or (c.channel = 'sms' and p.phone is not null)
        or (c.channel = 'push' and p.push_token is not null)
        or (c.channel = 'web' and p.web_reachable)

),

reachable as (

    select
        profile_id,
        channel,
        consent_purpose,
        consent_status,
        consent_given_at,
        counts_toward_fatigue,
        channel_rank,
        coalesce(
            case
                when quiet_start_minute < quiet_end_minute
                    then local_minute >= quiet_start_minute and local_minute < quiet_end_minute
                else local_minute >= quiet_start_minute or local_minute < quiet_end_minute
            end,
            false
        ) as in_quiet_hours
    from reachable_clock

),

profile_context as (

    select
        p.profile_id,
        s.score,
        -- the model behind the score; for a profile it has not scored, the model whose average
        -- score stands in (baseline)
        cast(coalesce(s.model_version, b.model_version) as {{ dbt.type_string() }}) as model_version,
        coalesce(p.order_count, 0) >= x.min_orders
            or coalesce(a.events_90d, 0) >= x.min_events as is_personalizable,
        {{ tessera_bucket(dbt.concat(['x.salt', "':'", 'p.profile_id'])) }} as bucket,
        x.holdout_percent,
        x.control_percent,
        x.rules_version,
        x.catalog_version,
        x.experiment_name,
        x.salt
    from profiles as p
    cross join experiment as x
    cross join baseline as b
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

touches as (

    select * from {{ ref('int_decision_touches') }}

),

offer_touches as (

    -- per profile and offer: touches inside the offer's cap window
    select
        t.profile_id,
        t.offer_id,
        count(*) as touches
    from touches as t
    inner join offers as o on o.offer_id = t.offer_id
    where o.cap_max is not null
      and t.touched_at >= {{ dbt.dateadd('day', '-o.cap_days', tessera_as_of()) }}
    group by t.profile_id, t.offer_id

),

stock_used as (

    -- customers who already got a budgeted offer (every exposure before this cycle)
    select
        t.offer_id,
        count(distinct t.profile_id) as used
    from touches as t
    inner join offers as o on o.offer_id = t.offer_id
    where o.budget is not null and t.touch_source = 'exposure'
    group by t.offer_id

),

reachable_profiles as (

    -- for budgeted offers only: profiles reachable on a channel the offer runs on
    select distinct r.profile_id, oc.offer_id
    from reachable as r
    inner join offer_channels as oc on oc.channel = r.channel
    inner join offers as o on o.offer_id = oc.offer_id and o.budget is not null

),

eligible as (

    -- eligible, valid, under the offer's cap; expected value = score x the offer's value
    select
        e.profile_id,
        o.offer_id,
        o.priority,
        o.budget,
        coalesce(s.score, b.avg_score) * coalesce(e.offer_value, o.value) as expected_value
    from eligibility as e
    inner join offers as o
        on o.offer_id = e.offer_id
        and not o.is_default
        and (o.valid_from is null or o.valid_from <= {{ tessera_as_of() }})
        and (o.valid_to is null or o.valid_to > {{ tessera_as_of() }})
    cross join baseline as b
    left join scores as s on s.profile_id = e.profile_id
    left join offer_touches as t on t.profile_id = e.profile_id and t.offer_id = e.offer_id
    where o.cap_max is null or coalesce(t.touches, 0) < o.cap_max

),

budgeted as (

    -- the global budget: the stock left goes to the treated, reachable customers with the highest
    -- expected value for the offer (it is never exceeded; it can stay partly unused when some of
    -- them win a better offer)
    select
        c.profile_id,
        c.offer_id,
        c.priority,
        c.expected_value,
        c.budget - coalesce(u.used, 0) as stock_left,
        row_number() over (
            partition by c.offer_id
            order by
                case when a.arm = 'treatment' and a.is_personalizable and rp.profile_id is not null
                    then 0 else 1 end,
                c.expected_value desc, c.profile_id
        ) as stock_rank
    from eligible as c
    inner join assigned as a on a.profile_id = c.profile_id
    left join reachable_profiles as rp on rp.profile_id = c.profile_id and rp.offer_id = c.offer_id
    left join stock_used as u on u.offer_id = c.offer_id
    where c.budget is not null

),

candidates as (

    select profile_id, offer_id, priority, expected_value
    from eligible
    where budget is null

    union all

    select profile_id, offer_id, priority, expected_value
    from budgeted
    where stock_rank <= stock_left

),

channel_candidates as (

    -- the candidates on the channels the profile can be reached on (no other channel is decided)
    select
        c.profile_id,
        r.channel,
        c.offer_id,
        c.expected_value,
        c.priority
    from candidates as c
    inner join offer_channels as oc on oc.offer_id = c.offer_id
    inner join reachable as r on r.profile_id = c.profile_id and r.channel = oc.channel

),

channel_ranked as (

    select
        profile_id,
        channel,
        offer_id,
        expected_value,
        row_number() over (
            partition by profile_id, channel
            order by expected_value desc, priority desc, offer_id
        ) as pick
    from channel_candidates

),

best_per_channel as (

    select * from channel_ranked where pick = 1

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

chosen as (

    select
        r.profile_id,
        r.channel,
        r.consent_purpose,
        r.consent_status,
        r.consent_given_at,
        r.counts_toward_fatigue,
        r.in_quiet_hours,
        r.channel_rank,
        a.arm,
        a.model_version,
        a.rules_version,
        a.catalog_version,
        a.experiment_name,
        a.salt,
        a.is_personalizable,
        a.score,
        b.offer_id as best_offer_id,
        b.expected_value as best_expected_value,
        o.control_percent as best_control_percent,
        d.offer_id as default_offer_id,
        d.value as default_value
    from reachable as r
    inner join assigned as a on a.profile_id = r.profile_id
    inner join defaults as d on d.channel = r.channel
    left join best_per_channel as b
        on b.profile_id = r.profile_id
        and b.channel = r.channel
        and b.pick = 1
    left join offers as o on o.offer_id = b.offer_id

),

campaign_split as (

    select
        *,
        case
            when best_offer_id is null or coalesce(best_control_percent, 0) = 0 then null
            when {{ tessera_bucket(dbt.concat(['salt', "':'", 'best_offer_id', "':'", 'profile_id'])) }}
                < best_control_percent * 100 then 'campaign_control'
            else 'campaign_treatment'
        end as campaign_arm
    from chosen

),

decided as (

    select
        *,
        case
            when arm = 'control' or not is_personalizable or best_offer_id is null
                or campaign_arm = 'campaign_control' then true
            else false
        end as is_default,
        case
            when arm = 'holdout' then 'holdout_no_marketing'
            when arm = 'control' then 'control_default_experience'
            when not is_personalizable then 'default_insufficient_data'
            when best_offer_id is null then 'default_no_eligible_offer'
            when campaign_arm = 'campaign_control' then 'campaign_control_default'
            else 'top_expected_value'
        end as choice_reason
    from campaign_split

),

valued as (

    select
        *,
        case when is_default then default_offer_id else best_offer_id end as offer_id,
        case
            when is_default then coalesce(score, 0.0) * default_value
            else best_expected_value
        end as expected_value
    from decided

),

history as (

    select
        t.profile_id,
        count(*) as touches_in_window
    from touches as t
    inner join channels as c on c.channel = t.channel and c.counts_toward_fatigue
    cross join experiment as x
    where x.fatigue_max_touches is not null
      and t.touched_at >= {{ dbt.dateadd('day', '-x.fatigue_window_days', tessera_as_of()) }}
    group by t.profile_id

),

sendable as (

    -- the marketing rows that would go out now compete for what is left of the fatigue budget:
    -- highest expected value first, then the channel's rank
    select
        profile_id,
        channel,
        row_number() over (
            partition by profile_id
            order by expected_value desc, channel_rank, channel
        ) as touch_order
    from valued
    where arm <> 'holdout' and counts_toward_fatigue and not in_quiet_hours

),

fatigue_ranked as (

    select
        v.*,
        coalesce(h.touches_in_window, 0) as touches_in_window,
        x.fatigue_max_touches,
        s.touch_order
    from valued as v
    cross join experiment as x
    left join history as h on h.profile_id = v.profile_id
    left join sendable as s on s.profile_id = v.profile_id and s.channel = v.channel

),

suppressed as (

    select
        *,
        case
            when arm = 'holdout' then null
            when in_quiet_hours then 'deferred_quiet_hours'
            when touch_order is not null and fatigue_max_touches is not null
                and touches_in_window + touch_order > fatigue_max_touches then 'suppressed_fatigue'
        end as suppression_reason
    from fatigue_ranked

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
        arm <> 'holdout' and suppression_reason is null as is_deliverable,
        arm,
        campaign_arm,
        experiment_name,
        coalesce(suppression_reason, choice_reason) as reason_code,
        {{ dbt.concat(["choice_reason", "coalesce(',' || suppression_reason, '')"]) }} as reason_codes,
        score,
        expected_value,
        model_version,
        rules_version,
        catalog_version,
        consent_purpose,
        consent_status,
        consent_given_at,
        touches_in_window,
        fatigue_max_touches,
        {{ tessera_cycle() }} as cycle,
        {{ tessera_as_of() }} as decided_at
    from suppressed

)

select * from final
