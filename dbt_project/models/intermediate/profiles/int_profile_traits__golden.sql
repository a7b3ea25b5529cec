{#-
  Golden record survivorship, one row per profile.
  - names (first_name, last_name): source priority shop > crm > loyalty > support > web, then the
    most recently updated record; each attribute is the first non-null value in that order.
  - email, phone: the most recently updated non-null value (source priority breaks ties).
  - customer_id: source priority, then recency (the shop record's id wins).
  - loyalty_id, loyalty_tier: the most recently updated loyalty record.
  Every ordering ends with record_id, so the result is deterministic.
-#}
with

profile_records as (

    select * from {{ ref('int_profile_records') }}
    where profile_id is not null

),

{%- set by_priority = 'source_priority, updated_at desc nulls last, record_id' %}
{%- set by_recency = 'updated_at desc nulls last, source_priority, record_id' %}

survivors as (

    {{ tessera.latest_non_null('profile_records', 'profile_id', {
        'first_name': {'column': 'first_name_display', 'order_by': by_priority},
        'last_name': {'column': 'last_name_display', 'order_by': by_priority},
        'email': {'column': 'email', 'order_by': by_recency},
        'phone': {'column': 'phone', 'order_by': by_recency},
        'customer_id': {'column': 'customer_id', 'order_by': by_priority},
        'loyalty_id': {'column': 'loyalty_id', 'order_by': by_recency},
        'loyalty_tier': {'column': 'loyalty_tier', 'order_by': by_recency},
        'date_of_birth': {'column': 'date_of_birth', 'order_by': by_priority},
        'city': {'column': 'city', 'order_by': by_priority},
        'country': {'column': 'country', 'order_by': by_priority},
    }, by_recency) }}

),

record_stats as (

    select
        profile_id,
        count(*)                  as record_count,
        count(distinct source)    as source_count,
        min(created_at)           as profile_created_at
    from profile_records
    group by profile_id

),

final as (

    select
        survivors.*,
        record_stats.record_count,
        record_stats.source_count,
        record_stats.profile_created_at
    from survivors
    inner join record_stats
        on record_stats.profile_id = survivors.profile_id

)

select * from final
