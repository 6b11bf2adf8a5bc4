"""An identity erased at intake reads as erased in the journey's FHIR export, never as an
error: the journey asks intake, which answers `identity_erased`, and the Patient says so."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.bundle import Bundle

from services.journey import fhir_codes as codes
from services.journey.fhir import bundle
from services.journey.identity import ERASED, from_intake
from tests.unit.journey.test_fhir_export import resources, treated


async def test_intake_answering_erased_gives_the_erased_marker() -> None:
    def intake(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"patient_id": "pat-1", "identity": None,
                                         "identity_erased": True})  # fmt: skip

    source = from_intake("http://intake.test", transport=httpx.MockTransport(intake))

    assert await source("pat-1", "Bearer t") == ERASED


def test_an_erased_identity_is_a_pseudonymous_patient_named_erased() -> None:
    exported = bundle(treated(), identity=ERASED)
    (patient,) = resources(exported, "Patient")

    assert patient["name"] == [{"text": "erased"}]
    assert patient["meta"]["security"] == [codes.PSEUDONYMIZED]
    assert not {"birthDate", "telecom"} & set(patient)
    Bundle.model_validate(exported)
