"""Forms in the ``tsunagu apply`` file, after follow routes (a form's answers and actions name
the tags, fields and sequences declared before it)::

    forms:
      - name: visit-survey
        channel: "1650000001"
        title: ご来店前アンケート
        policy: editable
        questions:
          - {kind: katakana, key: kana, label: フリガナ, required: true, field: kana}
          - kind: single
            key: length
            label: 髪の長さ
            choices:
              - {label: ショート, tags: [ショート]}
              - {label: ロング, tags: [ロング]}
        actions:
          - {kind: tag, target: アンケート回答}

A form is found by its name; applying changes its questions and actions, never its code (the
URL shared with friends stays valid) nor its submissions.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from growth.forms import queries, service
from growth.forms.schemas import FormIn
from messaging import declarations
from messaging.compose.schemas import NamedSpec


class FormSpec(FormIn, NamedSpec):
    """A form as the file declares it (the channel is named, as campaigns and routes do)."""

    channel: str = Field(pattern=r"^[0-9]{1,32}$")


def _names(session: Session, shop_id: int) -> list[str]:
    return [form.name for form in queries.forms_of(session, shop_id)]


def _current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    form = service.find_by_name(session, shop_id=shop_id, name=name)
    if form is None:
        return None
    out = queries.form_out(session, form, public_url="")
    spec = FormSpec.model_validate(out.model_dump(include=set(FormSpec.model_fields)))
    return spec.model_dump(mode="json", exclude_defaults=True)


def _save(session: Session, shop_id: int, spec: FormSpec, actor: str) -> object:
    body = FormIn.model_validate(spec.model_dump())
    form = service.find_by_name(session, shop_id=shop_id, name=spec.name)
    if form is None:
        return service.create_form(session, shop_id=shop_id, spec=body, actor=actor)
    return service.update_form(session, form=form, spec=body, actor=actor)


FORMS = declarations.Kind("forms", FormSpec, _names, _current, _save)
