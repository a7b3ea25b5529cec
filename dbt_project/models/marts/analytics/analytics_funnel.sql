{#-
  Purchase funnel over the 30 days up to the run's as-of time. A profile (or, for events
  without a profile, an anonymous visitor) reaches step n when it sent the step's event and
  the events of every earlier step within the window (order inside the window not enforced).
-#}
{%- set steps = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'] %}

with

events as (

    select * from {{ ref('int_events_resolved') }}
    where occurred_at > {{ dbt.dateadd('day', -30, tessera.tessera_as_of()) }}
      and occurred_at <= {{ tessera.tessera_as_of() }}
      and event_name in ({% for step in steps %}'{{ step }}'{% if not loop.last %}, {% endif %}{% endfor %})

),

visitor_steps as (

    select
        coalesce(profile_id, {{ dbt.concat(["'anonymous:'", "coalesce(anonymous_id, event_id)"]) }}) as visitor_key
        {%- for step in steps %},
        max(case when event_name = '{{ step }}' then 1 else 0 end) as did_step_{{ loop.index }}
        {%- endfor %}
    from events
    group by 1

),

step_counts as (

    {% for step in steps %}
    select
        {{ loop.index }} as step_number,
        '{{ step }}' as step_name,
        cast(sum(case when {% for i in range(1, loop.index + 1) %}did_step_{{ i }} = 1{% if not loop.last %} and {% endif %}{% endfor %} then 1 else 0 end) as {{ dbt.type_bigint() }}) as profiles_or_visitors
    from visitor_steps
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

with_previous as (

    select
        step_number,
        step_name,
        profiles_or_visitors,
        lag(profiles_or_visitors) over (order by step_number) as previous_step_count,
        first_value(profiles_or_visitors) over (order by step_number) as first_step_count
    from step_counts

),

final as (

    select
        step_number,
        step_name,
        profiles_or_visitors,
        case
            when step_number = 1 then 1.0
            else cast(profiles_or_visitors as {{ tessera.type_double() }}) / nullif(previous_step_count, 0)
        end as conversion_from_previous,
        cast(profiles_or_visitors as {{ tessera.type_double() }}) / nullif(first_step_count, 0)
            as conversion_from_first
    from with_previous

)

select * from final
