{#
  tessera_exposures(): the exposure log (experiments.exposures), written by the Dagster asset
  decisions/exposure_log from what the syncs acknowledged (tessera_sync.sync_state). Before the
  first sync has run the table does not exist yet; then this is an empty relation of the same shape.
#}
{% macro tessera_exposures() -%}
    {%- set relation = none -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(database=target.database, schema='experiments', identifier='exposures') -%}
    {%- endif -%}
    {%- if relation is not none -%}
        (select profile_id, channel, offer_id, decision_id, arm, decided_at, exposed_at from {{ relation }})
    {%- else -%}
        (select
            cast(null as {{ dbt.type_string() }}) as profile_id,
            cast(null as {{ dbt.type_string() }}) as channel,
            cast(null as {{ dbt.type_string() }}) as offer_id,
            cast(null as {{ dbt.type_string() }}) as decision_id,
            cast(null as {{ dbt.type_string() }}) as arm,
            cast(null as {{ dbt.type_timestamp() }}) as decided_at,
            cast(null as {{ dbt.type_timestamp() }}) as exposed_at
         where 1 = 0)
    {%- endif -%}
{%- endmacro %}

{#
  tessera_exposure_touches(): the exposure log as marketing touches, one per delivered decision at
  its decision time (the cycle the message belongs to; exposed_at is the sync's wall clock, which is
  not the data's time in a replayed or as-of run). Shared by the fatigue history
  (int_decision_touches) and attribution (fct_attribution_touches).
#}
{% macro tessera_exposure_touches() -%}
    (select
        profile_id,
        channel,
        offer_id,
        cast(decided_at as {{ dbt.type_timestamp() }}) as touched_at,
        'exposure' as touch_source,
        decision_id as touch_ref
     from {{ tessera_exposures() }} as exposures
     where profile_id is not null and decided_at is not null)
{%- endmacro %}

{#
  tessera_local_minute(ts, offset_minutes): minutes after local midnight of a UTC timestamp.
#}
{% macro tessera_local_minute(ts, offset_minutes) -%}
    (
        (
            (extract(hour from {{ ts }}) * 60 + extract(minute from {{ ts }}) + {{ offset_minutes }})
            % 1440 + 1440
        ) % 1440
    )
{%- endmacro %}

{#
  tessera_exists(relation): whether a ref()/source() relation exists in the warehouse now. Lets a
  measurement model build empty (rather than fail) when the decisions stage has not run yet.
#}
{% macro tessera_exists(relation) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(load_relation(relation) is not none) }}
{%- endmacro %}
