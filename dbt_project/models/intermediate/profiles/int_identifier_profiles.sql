{#-
  Contract 3: one profile per (id_type, id_value).
  When records carrying the same value were resolved to different profiles (the identity step
  judged them different people, e.g. a shared family email), the value goes to the profile with
  the most records carrying it; ties go to the smallest profile_id. Deterministic, and the
  losing profiles keep their own records, orders and events.
-#}
with

identifiers as (

    select * from {{ ref('int_identifiers_unioned') }}

),

record_profiles as (

    select * from {{ source('identity', 'record_profiles') }}

),

counted as (

    select
        identifiers.id_type,
        identifiers.id_value,
        record_profiles.profile_id,
        count(*) as record_count
    from identifiers
    inner join record_profiles
        on record_profiles.record_id = identifiers.record_id
    group by 1, 2, 3

),

ranked as (

    select
        *,
        row_number() over (
            partition by id_type, id_value
            order by record_count desc, profile_id
        ) as profile_rank,
        count(*) over (partition by id_type, id_value) as candidate_profiles
    from counted

),

final as (

    select
        id_type,
        id_value,
        profile_id,
        record_count,
        candidate_profiles
    from ranked
    where profile_rank = 1

)

select * from final
