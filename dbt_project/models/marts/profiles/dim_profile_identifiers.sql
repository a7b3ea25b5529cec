{#- Every identifier value that belongs to a profile (after int_identifier_profiles' conflict
    rule), for lookups such as "which profile has this email". -#}
with

identifier_profiles as (

    select * from {{ ref('int_identifier_profiles') }}

),

final as (

    select
        profile_id,
        id_type,
        id_value,
        record_count,
        candidate_profiles > 1 as is_contested
    from identifier_profiles

)

select * from final
