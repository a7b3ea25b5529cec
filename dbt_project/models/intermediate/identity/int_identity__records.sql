{#- Contract 3: one row per person-bearing record, identifiers normalized. Read by the Python
    identity-resolution asset. Names are normalized (lower case, no punctuation) for matching;
    display names live in int_identity__records_unioned. -#}
with

records as (

    select * from {{ ref('int_identity__records_unioned') }}

),

final as (

    select
        record_id,
        source,
        source_record_id,
        first_name,
        last_name,
        full_name,
        email,
        phone,
        customer_id,
        loyalty_id,
        device_id,
        date_of_birth,
        street,
        city,
        postcode,
        country,
        updated_at
    from records

)

select * from final
