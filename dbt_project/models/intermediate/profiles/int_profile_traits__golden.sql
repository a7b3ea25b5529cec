{#-
  Golden record survivorship, one row per profile. Each trait is chosen independently by its own
  rule, configured in the `survivorship:` section of config/identity.yml and written by the identity
  asset to identity.survivorship_rules (trait, rule) and identity.source_priority (source, priority):

  - most_recent:     the most recently updated record's non-null value (ties: source priority);
  - source_priority: the non-null value of the most trusted source (ties: the most recent);
  - most_frequent:   the non-null value most of the profile's records carry (ties: the most recent,
                     then source priority).

  A trait missing from identity.survivorship_rules keeps the default below (the same defaults as
  tessera.identity.config.DEFAULT_SURVIVORSHIP). A source missing from identity.source_priority
  ranks after every listed one, in the records' built-in order (shop, crm, loyalty, support, web).
  Every ordering ends with record_id, so the result is deterministic.
-#}

{%- set traits = {
    'first_name':    {'column': 'first_name_display', 'default': 'source_priority'},
    'last_name':     {'column': 'last_name_display',  'default': 'source_priority'},
    'email':         {'column': 'email',              'default': 'most_recent'},
    'phone':         {'column': 'phone',              'default': 'most_recent'},
    'customer_id':   {'column': 'customer_id',        'default': 'source_priority'},
    'loyalty_id':    {'column': 'loyalty_id',         'default': 'most_recent'},
    'loyalty_tier':  {'column': 'loyalty_tier',       'default': 'most_recent'},
    'date_of_birth': {'column': 'date_of_birth',      'default': 'source_priority'},
    'city':          {'column': 'city',               'default': 'source_priority'},
    'country':       {'column': 'country',            'default': 'source_priority'},
} -%}

with

profile_records as (

    select * from {{ ref('int_profile_records') }}
    where profile_id is not null

),

survivorship_rules as (

    select * from {{ source('identity', 'survivorship_rules') }}

),

configured_source_priority as (

    select * from {{ source('identity', 'source_priority') }}

),

trait_rules as (

    -- one row: the rule of every trait
    select
        {%- for trait, spec in traits.items() %}
        coalesce(max(case when trait = '{{ trait }}' then rule end), '{{ spec.default }}')
                                                            as {{ trait }}__rule{{ ',' if not loop.last }}
        {%- endfor %}
    from survivorship_rules

),

ranked_records as (

    select
        profile_records.*,
        coalesce(configured_source_priority.priority, 1000 + profile_records.source_priority)
                                                            as source_rank,
        {%- for trait, spec in traits.items() %}
        count({{ spec.column }}) over (
            partition by profile_records.profile_id, {{ spec.column }}
        )                                                   as {{ trait }}__frequency,
        {%- endfor %}
        trait_rules.*
    from profile_records
    cross join trait_rules
    left join configured_source_priority
        on configured_source_priority.source = profile_records.source

),

{%- set order_specs = {} %}
{%- for trait, spec in traits.items() %}
    {%- do order_specs.update({trait: {
        'column': spec.column,
        'order_by': "case when " ~ trait ~ "__rule = 'most_frequent' then " ~ trait ~ "__frequency end desc nulls last, "
            ~ "case when " ~ trait ~ "__rule = 'source_priority' then source_rank end asc nulls last, "
            ~ "updated_at desc nulls last, source_rank, record_id"
    }}) %}
{%- endfor %}

survivors as (

    {{ tessera.latest_non_null('ranked_records', 'profile_id', order_specs,
                               'updated_at desc nulls last, source_rank, record_id') }}

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
