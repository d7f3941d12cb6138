{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('built_at') }}"
    )
}}
{#- One row per support ticket: its customer and journey, who owns the problem, how fast it was
    answered and resolved, and whether it is still open.

    Incremental by ticket: a run rebuilds the tickets that have events fct_touchpoints rebuilt
    since this table was last built (new events, a new customer key, another attributed order). -#}
with

ticket_events as (

    select * from {{ ref('fct_touchpoints') }}
    where ticket_id is not null

),

{% if journeys_incremental('built_at') %}
-- Tickets whose events fct_touchpoints rebuilt since this table was last built.
changed_tickets as (

    select distinct ticket_id
    from ticket_events
    where built_at > {{ watermark(this, 'built_at') }}

),

scoped as (

    select ticket_events.*
    from ticket_events
    inner join changed_tickets
        on changed_tickets.ticket_id = ticket_events.ticket_id

),
{% else %}
scoped as (

    select * from ticket_events

),
{% endif %}

ranked as (

    select
        scoped.*,
        -- latest first, among the events of the same kind
        row_number() over (
            partition by ticket_id, action
            order by occurred_at desc, {{ bytewise('event_id') }} desc
        ) as latest_of_action,
        -- the last state change decides whether the ticket is open
        case when action in ('ticket_opened', 'ticket_reopened', 'ticket_resolved') then
            row_number() over (
                partition by ticket_id,
                    case when action in ('ticket_opened', 'ticket_reopened', 'ticket_resolved') then 1 else 0 end
                order by occurred_at desc, {{ bytewise('event_id') }} desc
            )
        end as latest_state
    from scoped

),

summarised as (

    select
        ticket_id,
        customer_key,
        order_id,
        {{ dbt.bool_or('is_order_inferred') }} as is_order_inferred,
        coalesce(
            min(case when action = 'ticket_opened' then occurred_at end),
            min(occurred_at)
        ) as opened_at,
        max(case when action = 'ticket_opened' then category end) as category,
        max(case when action = 'ticket_opened' then channel end) as channel,
        max(case when action = 'ticket_escalated' and latest_of_action = 1 then to_department end)
            as last_escalated_to,
        max(case when latest_state = 1 then action end) as last_state,
        max(case when latest_state = 1 then occurred_at end) as last_state_at,
        max(case when action = 'csat_submitted' and latest_of_action = 1 then csat_score end) as csat_score,
        sum(case when action = 'ticket_escalated' then 1 else 0 end) as escalations,
        sum(case when action = 'ticket_reopened' then 1 else 0 end) as reopens,
        sum(case when action = 'agent_replied' then 1 else 0 end) as agent_replies,
        min(case when action <> 'ticket_opened' and action <> 'csat_submitted' then occurred_at end)
            as first_handled_at,
        count(*) as touchpoints
    from ranked
    group by ticket_id, customer_key, order_id

),

first_replies as (

    select
        summarised.ticket_id,
        min(scoped.occurred_at) as first_response_at
    from summarised
    inner join scoped
        on scoped.ticket_id = summarised.ticket_id
        and scoped.action = 'agent_replied'
        and scoped.occurred_at >= summarised.opened_at
    group by summarised.ticket_id

),

final as (

    select
        -- ids
        summarised.ticket_id,
        summarised.customer_key,
        summarised.order_id,

        -- strings
        summarised.category,
        summarised.channel,
        summarised.last_escalated_to,
        coalesce(
            summarised.last_escalated_to,
            case
                when summarised.category in ('delivery', 'damaged') then 'shipping'
                when summarised.category in ('billing', 'refund', 'product') then 'sales'
                else 'support'
            end
        ) as owner_department,

        -- numerics
        cast(summarised.escalations as integer) as escalations,
        cast(summarised.reopens as integer) as reopens,
        cast(summarised.agent_replies as integer) as agent_replies,
        cast(summarised.touchpoints as integer) as touchpoints,
        summarised.csat_score,
        cast({{ dbt.datediff('summarised.opened_at', 'first_replies.first_response_at', 'second') }} as bigint)
            as first_response_seconds,
        -- a resolution before the opening is no duration: the ticket is flagged instead
        cast(case when summarised.last_state = 'ticket_resolved' and summarised.last_state_at >= summarised.opened_at then
            {{ dbt.datediff('summarised.opened_at', 'summarised.last_state_at', 'second') }}
        end as bigint) as resolution_seconds,

        -- booleans
        summarised.is_order_inferred,
        -- replied to, escalated, resolved or reopened before it was opened: kept, flagged, and left
        -- out of the durations
        coalesce(summarised.first_handled_at < summarised.opened_at, false) as has_impossible_sequence,
        coalesce(summarised.last_state in ('ticket_opened', 'ticket_reopened'), false) as is_open,

        -- dates and timestamps
        {{ business_date('summarised.opened_at') }} as opened_date,
        summarised.opened_at,
        first_replies.first_response_at,
        case when summarised.last_state = 'ticket_resolved' then summarised.last_state_at end as resolved_at,
        {{ run_timestamp() }} as built_at

    from summarised
    left join first_replies
        on first_replies.ticket_id = summarised.ticket_id

)

select * from final
