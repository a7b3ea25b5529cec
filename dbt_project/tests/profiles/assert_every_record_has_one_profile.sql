{#- Every record of int_identity__records got exactly one profile from the identity step.
    int_profile_records is a left join from int_identity__records_unioned (the records) to
    identity.record_profiles, so a record without a profile appears with a null profile_id and a
    record resolved twice appears twice. Referencing only int_profile_records keeps this test out
    of the pass-1 selection. -#}
with

profile_records as (

    select * from {{ ref('int_profile_records') }}

),

per_record as (

    select
        record_id,
        count(*)                   as row_count,
        count(distinct profile_id) as profile_count,
        count(profile_id)          as non_null_profiles
    from profile_records
    group by record_id

)

select * from per_record
where row_count <> 1
   or profile_count <> 1
   or non_null_profiles <> 1
