{{
    config(
        materialized='incremental',
        unique_key='identifier',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('stitched_at') }}"
    )
}}
{#- One row per identifier (customer id, email hash, phone hash, order id, ticket id) with the
    customer it belongs to: the connected components of the identity graph.

    Label propagation: every identifier starts labelled with itself; each round it takes the
    smallest label among its neighbours, then the label of that label (pointer jumping, which
    shortens long chains). After enough rounds each component carries its smallest identifier;
    the data test assert_identity_graph_converged fails if a round more was needed.

    Incremental: components only ever grow or merge (edges are never removed), and each old
    component is already labelled with its smallest identifier. So a run propagates labels over
    the new edges only, with each end standing for its old component (or for itself when it is
    new): the merged component's smallest label wins, as in a full build. Then every member of
    a reached component takes its component's new label. The rows whose component changed are
    replaced; the rest stay. -#}
{%- set rounds = var('journeys__stitching_iterations') | int -%}
with

{% if journeys_incremental('stitched_at') %}
new_links as (

    select identifier, linked_identifier
    from {{ ref('int_identifiers_linked') }}
    where linked_at > {{ watermark(this, 'stitched_at') }}

),

-- The graph to label: one node per old component a new edge reaches (named by its label) and
-- one per identifier seen for the first time, joined by the new edges.
links as (

    select
        coalesce(left_known.component, new_links.identifier) as identifier,
        coalesce(right_known.component, new_links.linked_identifier) as linked_identifier
    from new_links
    left join {{ this }} as left_known on left_known.identifier = new_links.identifier
    left join {{ this }} as right_known on right_known.identifier = new_links.linked_identifier

),
{% else %}
links as (

    select identifier, linked_identifier from {{ ref('int_identifiers_linked') }}

),
{% endif %}

neighbours as (

    select identifier, linked_identifier as neighbour from links
    union
    select linked_identifier, identifier from links
    union
    select identifier, identifier from links
    union
    select linked_identifier, linked_identifier from links

),

labels_0 as (

    select identifier, identifier as label
    from neighbours
    where neighbour = identifier

),

{% for round in range(1, rounds + 1) %}
propagated_{{ round }} as (

    select neighbours.identifier, min({{ bytewise('labels.label') }}) as label
    from neighbours
    inner join labels_{{ round - 1 }} as labels on labels.identifier = neighbours.neighbour
    group by neighbours.identifier

),

labels_{{ round }} as (

    select propagated.identifier, jumped.label
    from propagated_{{ round }} as propagated
    inner join propagated_{{ round }} as jumped on jumped.identifier = propagated.label

),

{% endfor %}
{% if journeys_incremental('stitched_at') %}
-- Every member of a reached old component, and every new identifier, with its new label.
stitched as (

    select members.identifier, labels.label
    from {{ this }} as members
    inner join labels_{{ rounds }} as labels on labels.identifier = members.component

    union all

    select labels.identifier, labels.label
    from labels_{{ rounds }} as labels
    where not exists (select 1 from {{ this }} as known where known.identifier = labels.identifier)

),
{% else %}
stitched as (

    select identifier, label from labels_{{ rounds }}

),
{% endif %}

final as (

    select
        identifier,
        case substr(identifier, 1, 1)
            when '1' then 'customer_id'
            when '2' then 'email'
            when '3' then 'phone'
            when '4' then 'order'
            when '5' then 'ticket'
            when '6' then 'event'
        end as identifier_type,
        case
            when label like '1:%' then substr(label, 3)
            else 'anon-' || substr(label, 3, 16)
        end as customer_key,
        cast(label as {{ dbt.type_string() }}) as component,
        {{ run_timestamp() }} as stitched_at
    from stitched

)

{% if journeys_incremental('stitched_at') -%}
-- Of the identifiers recomputed, only those whose component changed are written, so stitched_at
-- marks exactly the identifiers that are new or re-keyed (fct_touchpoints rebuilds their customers).
-- A join on identifier, not EXCEPT: PostgreSQL sorts both sides of an EXCEPT.
select final.*
from final
left join {{ this }} as known on known.identifier = final.identifier
where known.identifier is null or final.component <> known.component
{%- else -%}
select * from final
{%- endif %}
