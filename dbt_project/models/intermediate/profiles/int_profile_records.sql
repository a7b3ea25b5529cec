{#- Every identity record with the profile the identity asset resolved it to. Left join from the
    records, so a record the identity step missed shows up with a null profile_id (the singular
    test assert_every_record_has_one_profile fails on it). -#}
with

records as (

    select * from {{ ref('int_identity__records_unioned') }}

),

record_profiles as (

    select * from {{ source('identity', 'record_profiles') }}

),

final as (

    select
        records.*,
        record_profiles.profile_id,
        record_profiles.resolved_at
    from records
    left join record_profiles
        on record_profiles.record_id = records.record_id

)

select * from final
