{#- Every profile's arm in every experiment of config/experiments.yml, in SQL in the warehouse; the
    same function as tessera.decide.assignment (Python), so both always agree:

    - the global holdout first: tessera_bucket(holdout_salt:profile_id) < holdout_percent x 100;
    - weighted arms: tessera_bucket(salt:profile_id) falls in the arm's bucket range;
    - factorial arms: one bucket per factor, salted salt/factor, picks the factor's level; the arm
      is every factor=level in the configured factor order, joined by '|'
      (e.g. subject=plain|image=product).

    The bucket ranges come from experiments.arm_ranges (written from config/experiments.yml by the
    asset experiments/arm_ranges). Builds empty before that table exists. -#}
{%- set ranges_source = source('experiments', 'arm_ranges') %}
{%- if tessera_exists(ranges_source) %}
with

ranges as (

    select * from {{ ranges_source }}

),

profiles as (

    select profile_id from {{ ref('dim_customer_profiles') }}

),

salts as (

    select distinct experiment, factor, factor_order, salt from ranges

),

levels as (

    -- per profile, experiment and factor (weighted arms: one "factor"): the level its bucket falls in
    select
        b.profile_id,
        b.experiment,
        b.factor,
        b.factor_order,
        r.level
    from (
        select
            p.profile_id,
            s.experiment,
            s.factor,
            s.factor_order,
            s.salt,
            {{ tessera_bucket(dbt.concat(['s.salt', "':'", 'p.profile_id'])) }} as bucket
        from profiles as p
        cross join salts as s
    ) as b
    inner join ranges as r
        on r.experiment = b.experiment
        and r.salt = b.salt
        and b.bucket >= r.lower_bucket
        and b.bucket < r.upper_bucket

),

arms as (

    select
        profile_id,
        experiment,
        {{ dbt.listagg(
            "case when factor is null then level else " ~ dbt.concat(['factor', "'='", 'level']) ~ " end",
            "'|'",
            "order by factor_order") }} as experiment_arm
    from levels
    group by profile_id, experiment

),

holdout as (

    select distinct experiment, holdout_salt, holdout_percent from ranges

),

final as (

    select
        a.profile_id,
        a.experiment,
        case
            when h.holdout_percent > 0
                and {{ tessera_bucket(dbt.concat(['h.holdout_salt', "':'", 'a.profile_id'])) }} < h.holdout_percent * 100
                then 'holdout'
            else a.experiment_arm
        end as arm
    from arms as a
    inner join holdout as h on h.experiment = a.experiment

)

select * from final
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as profile_id,
    cast(null as {{ dbt.type_string() }}) as experiment,
    cast(null as {{ dbt.type_string() }}) as arm
where 1 = 0
{%- endif %}
