{{ config(meta={"dagster": {"ref": {"name": "fct_decisions"}}}) }}
-- Every delivered decision needs a current opt-in for its channel's consent purpose.
with decisions as (

    select * from {{ ref('fct_decisions') }}

),

channels as (

    select * from {{ ref('channels') }}

),

consent as (

    select * from {{ ref('int_consent_latest') }}

)

select d.*
from decisions as d
inner join channels as c on c.channel = d.channel
left join consent as k
    on k.profile_id = d.profile_id
    and k.channel = d.channel
    and k.purpose = c.consent_purpose
where k.status is null or k.status <> 'opt_in'
