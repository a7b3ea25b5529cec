{#- Latest consent status per profile for the (channel, purpose) pairs that gate activation:
    email/sms/push use purpose marketing, web uses purpose personalization. -#}
with

consent as (

    select * from {{ ref('int_consent_latest') }}

),

{%- set pairs = [('email', 'marketing'), ('sms', 'marketing'), ('push', 'marketing'), ('web', 'personalization')] %}

final as (

    select
        profile_id
        {%- for channel, purpose in pairs %},
        max(case when channel = '{{ channel }}' and purpose = '{{ purpose }}' then status end)
            as {{ channel }}_{{ purpose }}_status,
        max(case when channel = '{{ channel }}' and purpose = '{{ purpose }}' then occurred_at end)
            as {{ channel }}_{{ purpose }}_at
        {%- endfor %}
    from consent
    group by profile_id

)

select * from final
