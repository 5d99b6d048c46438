{% test value_in_range(model, column_name, min_value=none, max_value=none) %}
-- Rows whose value lies outside [min_value, max_value]; NULLs are left to not_null.
-- Whole rows, so a failure can name the customer (the run's error shows a few).
select *
from {{ model }}
where {{ column_name }} is not null
  and (
    {% if min_value is not none %} {{ column_name }} < {{ min_value }} {% else %} false {% endif %}
    or {% if max_value is not none %} {{ column_name }} > {{ max_value }} {% else %} false {% endif %}
  )
{% endtest %}
