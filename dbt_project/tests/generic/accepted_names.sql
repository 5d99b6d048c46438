{% test accepted_names(model, column_name, names) %}
-- Values outside the list `names` (a project var: tiers, stages and segments are named once,
-- in dbt_project.yml); quotes inside a name ("Can't Lose Them") are escaped. NULLs pass.
select {{ column_name }} as unexpected_value, count(*) as n_records
from {{ model }}
where {{ column_name }} not in (
    {%- for name in names %}{{ dbt.string_literal(dbt.escape_single_quotes(name)) }}{{ ", " if not loop.last }}{% endfor -%}
)
group by {{ column_name }}
{% endtest %}
