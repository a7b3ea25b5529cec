{#-
  Purchase-propensity features, shared by ml_propensity_training (several past cutoffs) and
  ml_propensity_scoring (one cutoff: the run's as-of), so both marts carry the identical feature
  columns computed the identical way. ml/features.py FEATURE_COLUMNS lists the same names.

  Every feature of a (profile, cutoff) row uses only rows strictly before cutoff_at.
  Portable SQL: dbt cross-database macros for dates and types, no engine-specific functions.
-#}

{#- The feature column names, in model input order. -#}
{% macro ml_propensity_feature_columns() -%}
    {%- do return([
        'recency_days',
        'frequency',
        'monetary_total',
        'monetary_avg',
        'tenure_days',
        'orders_30d',
        'orders_90d',
        'orders_180d',
        'non_completed_orders',
        'distinct_categories',
        'events_30d',
        'product_views_30d',
        'product_adds_30d',
        'checkouts_30d',
        'days_since_last_event',
        'is_loyalty_member',
    ]) -%}
{%- endmacro %}


{#- `alias.col1, alias.col2, ...` for the feature columns. -#}
{% macro ml_propensity_feature_select(alias) -%}
    {%- for col in ml_propensity_feature_columns() %}
        {{ alias }}.{{ col }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{#- Number of completed orders of `o` in the `days` days before the row's cutoff. -#}
{% macro ml__completed_in_last(days) -%}
    sum(case when o.is_completed = 1 and o.ordered_at >= {{ dbt.dateadd('day', -days, 'p.cutoff_at') }} then 1 else 0 end)
{%- endmacro %}


{#- Number of events of `e` named one of `names` (all events when empty) in the `days` days
    before the row's cutoff. -#}
{% macro ml__events_in_last(days, names=[]) -%}
    sum(case
        when e.occurred_at >= {{ dbt.dateadd('day', -days, 'p.cutoff_at') }}
        {%- if names %}
            and e.event_name_lower in ({% for n in names %}'{{ n | lower }}'{{ ", " if not loop.last }}{% endfor %})
        {%- endif %}
        then 1 else 0 end)
{%- endmacro %}


{#-
  A comma-separated list of CTEs (no leading `with`, no trailing comma). The caller defines a CTE
  named `cutoffs_cte` with a column `cutoff_at` (timestamp, UTC, no time zone) before it, and can
  select from the last CTE, `ml_features`:
      profile_id, cutoff_at, <ml_propensity_feature_columns()>
  one row per cutoff and profile with at least one order or event before that cutoff.
  `ml_orders` (order_id, profile_id, ordered_at, is_completed, amount) and `ml_population`
  (profile_id, cutoff_at, first_seen_at) can be reused by the caller (labels).
-#}
{% macro ml_propensity_feature_ctes(cutoffs_cte) -%}

ml_orders as (

    select
        order_id,
        profile_id,
        ordered_at,
        case when lower(status) = 'completed' then 1 else 0 end as is_completed,
        coalesce(cast(amount as {{ dbt.type_float() }}), 0)    as amount
    from {{ ref('int_orders_resolved') }}
    where profile_id is not null
      and ordered_at is not null

),

ml_order_lines as (

    select
        o.profile_id,
        o.ordered_at,
        l.category
    from {{ ref('int_order_lines_resolved') }} as l
    inner join ml_orders as o
        on o.order_id = l.order_id
    where o.is_completed = 1
      and l.category is not null

),

ml_events as (

    select
        profile_id,
        occurred_at,
        lower(event_name) as event_name_lower
    from {{ ref('int_events_resolved') }}
    where profile_id is not null
      and occurred_at is not null

),

ml_first_seen as (

    select profile_id, min(first_at) as first_seen_at
    from (
        select profile_id, min(ordered_at) as first_at from ml_orders group by profile_id
        union all
        select profile_id, min(occurred_at) as first_at from ml_events group by profile_id
    ) as firsts
    group by profile_id

),

ml_population as (

    select
        f.profile_id,
        c.cutoff_at,
        f.first_seen_at
    from {{ cutoffs_cte }} as c
    inner join ml_first_seen as f
        on f.first_seen_at < c.cutoff_at

),

ml_order_aggregates as (

    select
        p.profile_id,
        p.cutoff_at,
        max(case when o.is_completed = 1 then o.ordered_at end)        as last_completed_order_at,
        sum(o.is_completed)                                             as frequency,
        sum(case when o.is_completed = 1 then o.amount else 0 end)      as monetary_total,
        avg(case when o.is_completed = 1 then o.amount end)             as monetary_avg,
        {{ ml__completed_in_last(30) }}                                 as orders_30d,
        {{ ml__completed_in_last(90) }}                                 as orders_90d,
        {{ ml__completed_in_last(180) }}                                as orders_180d,
        sum(1 - o.is_completed)                                         as non_completed_orders
    from ml_population as p
    inner join ml_orders as o
        on o.profile_id = p.profile_id
       and o.ordered_at < p.cutoff_at
    group by p.profile_id, p.cutoff_at

),

ml_category_aggregates as (

    select
        p.profile_id,
        p.cutoff_at,
        count(distinct l.category) as distinct_categories
    from ml_population as p
    inner join ml_order_lines as l
        on l.profile_id = p.profile_id
       and l.ordered_at < p.cutoff_at
    group by p.profile_id, p.cutoff_at

),

ml_event_aggregates as (

    select
        p.profile_id,
        p.cutoff_at,
        max(e.occurred_at)                                          as last_event_at,
        {{ ml__events_in_last(30) }}                                as events_30d,
        {{ ml__events_in_last(30, ['Product Viewed']) }}            as product_views_30d,
        {{ ml__events_in_last(30, ['Product Added']) }}             as product_adds_30d,
        {{ ml__events_in_last(30, ['Checkout Started']) }}          as checkouts_30d
    from ml_population as p
    inner join ml_events as e
        on e.profile_id = p.profile_id
       and e.occurred_at < p.cutoff_at
    group by p.profile_id, p.cutoff_at

),

ml_features as (

    select
        p.profile_id,
        p.cutoff_at,
        {#- null when the profile never completed an order before the cutoff -#}
        cast({{ dbt.datediff('oa.last_completed_order_at', 'p.cutoff_at', 'day') }} as {{ dbt.type_int() }})
                                                                            as recency_days,
        cast(coalesce(oa.frequency, 0) as {{ dbt.type_int() }})             as frequency,
        cast(coalesce(oa.monetary_total, 0) as {{ dbt.type_float() }})      as monetary_total,
        cast(oa.monetary_avg as {{ dbt.type_float() }})                     as monetary_avg,
        cast({{ dbt.datediff('p.first_seen_at', 'p.cutoff_at', 'day') }} as {{ dbt.type_int() }})
                                                                            as tenure_days,
        cast(coalesce(oa.orders_30d, 0) as {{ dbt.type_int() }})            as orders_30d,
        cast(coalesce(oa.orders_90d, 0) as {{ dbt.type_int() }})            as orders_90d,
        cast(coalesce(oa.orders_180d, 0) as {{ dbt.type_int() }})           as orders_180d,
        cast(coalesce(oa.non_completed_orders, 0) as {{ dbt.type_int() }})  as non_completed_orders,
        cast(coalesce(ca.distinct_categories, 0) as {{ dbt.type_int() }})   as distinct_categories,
        cast(coalesce(ea.events_30d, 0) as {{ dbt.type_int() }})            as events_30d,
        cast(coalesce(ea.product_views_30d, 0) as {{ dbt.type_int() }})     as product_views_30d,
        cast(coalesce(ea.product_adds_30d, 0) as {{ dbt.type_int() }})      as product_adds_30d,
        cast(coalesce(ea.checkouts_30d, 0) as {{ dbt.type_int() }})         as checkouts_30d,
        {#- null when the profile has no events before the cutoff -#}
        cast({{ dbt.datediff('ea.last_event_at', 'p.cutoff_at', 'day') }} as {{ dbt.type_int() }})
                                                                            as days_since_last_event,
        {#- current loyalty status: the profile table keeps no enrolment history (see docs/ml.md) -#}
        case when dp.is_loyalty_member then 1 else 0 end                    as is_loyalty_member
    from ml_population as p
    left join ml_order_aggregates as oa
        on oa.profile_id = p.profile_id and oa.cutoff_at = p.cutoff_at
    left join ml_category_aggregates as ca
        on ca.profile_id = p.profile_id and ca.cutoff_at = p.cutoff_at
    left join ml_event_aggregates as ea
        on ea.profile_id = p.profile_id and ea.cutoff_at = p.cutoff_at
    left join {{ ref('dim_customer_profiles') }} as dp
        on dp.profile_id = p.profile_id

)

{%- endmacro %}
