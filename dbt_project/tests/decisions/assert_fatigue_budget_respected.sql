{{ config(meta={"dagster": {"ref": {"name": "fct_decisions"}}}) }}
-- No customer gets more new marketing touches than the fatigue budget leaves, across channels.
with decisions as (

    select * from {{ ref('fct_decisions') }}

),

channels as (

    select * from {{ ref('channels') }}

)

select
    d.profile_id,
    max(d.touches_in_window) as touches_in_window,
    max(d.fatigue_max_touches) as fatigue_max_touches,
    count(*) as new_touches
from decisions as d
inner join channels as c on c.channel = d.channel and c.counts_toward_fatigue
where d.is_deliverable and d.fatigue_max_touches is not null
group by d.profile_id
having count(*) > greatest(max(d.fatigue_max_touches) - max(d.touches_in_window), 0)
