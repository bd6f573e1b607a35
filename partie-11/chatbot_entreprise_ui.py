"""Interface Streamlit du chatbot d'entreprise (Projet 14) : elle parle à l'API du lab au format d'OpenAI.

    streamlit run partie-11/chatbot_entreprise_ui.py -- --api http://127.0.0.1:8000/v1

(ou la variable ENTREPRISE_API_URL). L'interface ne connaît ni Qdrant ni le modèle : elle envoie la conversation à
`POST /v1/chat/completions` avec le client `openai` (le périmètre choisi part dans `filters`), affiche la réponse et ses
sources (fichier, page ou section), verse un document par `PUT /v1/documents/{service}/{fichier}` et montre les
statistiques du service (`GET /v1/stats`). Son test (tests/test_lab_chatbot_entreprise.py) la pilote avec
`streamlit.testing.v1.AppTest`, sans navigateur, devant l'API de la solution du lab.
"""

from __future__ import annotations

import argparse
import json
import os

import httpx
import openai
import streamlit as st

MODEL = "optimalis/assistant-rag"  # le nom que l'API du lab annonce
DEPARTMENTS = {"Tous les services": None, "Ressources humaines": "rh", "Informatique": "it", "Sécurité": "securite"}

parser = argparse.ArgumentParser(allow_abbrev=False)
parser.add_argument("--api", default=os.environ.get("ENTREPRISE_API_URL", "http://127.0.0.1:8000/v1"))
API_URL = parser.parse_known_args()[0].api.rstrip("/")


@st.cache_resource
def api_client(url: str) -> openai.OpenAI:
    # un seul client par processus Streamlit (le script est réexécuté à chaque interaction)
    return openai.OpenAI(base_url=url, api_key=os.environ.get("ENTREPRISE_API_KEY", "cours-llm"), max_retries=0)


def where(source: dict) -> str:
    return f"page {source['page']}" if source.get("page") is not None else f"section « {source.get('section')} »"


def show_sources(sources: list[dict]) -> None:
    if sources:
        st.markdown("**Sources**")
        for source in sources:
            st.markdown(f"- `{source['file']}`, {where(source)} (score {source['score']:.2f})")


def api_error(response: httpx.Response) -> str:
    try:
        return response.json()["error"]["message"]
    except (json.JSONDecodeError, KeyError, TypeError):  # pas de corps d'erreur au format d'OpenAI
        return f"statut HTTP {response.status_code}"


st.set_page_config(page_title="Assistant Optimalis", page_icon="🏢")
st.title("Assistant de la documentation interne")
st.caption(f"RAG (Qdrant + modèle servi), réponses citées · API : {API_URL}")

with st.sidebar:
    st.header("Périmètre")
    scope = st.selectbox("Service interrogé", list(DEPARTMENTS))
    st.header("Verser un document")
    target = st.selectbox("Service du document", [name for name, code in DEPARTMENTS.items() if code])
    uploaded = st.file_uploader("PDF, DOCX ou HTML", type=["pdf", "docx", "html"])
    if uploaded is not None and st.button("Indexer le document"):
        try:
            response = httpx.put(
                f"{API_URL}/documents/{DEPARTMENTS[target]}/{uploaded.name}", content=uploaded.getvalue(), timeout=120
            )
        except httpx.HTTPError as exc:
            st.error(f"L'API ne répond pas : {exc}")
        else:
            if response.status_code == 200:
                done = response.json()
                st.success(f"{done['file']} : {done['chunks']} morceaux indexés ({done['sections']} sections)")
            else:
                st.error(f"Document refusé : {api_error(response)}")

if "messages" not in st.session_state:
    st.session_state.messages = []  # la conversation vit dans la session du navigateur

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
        show_sources(message.get("sources", []))

if question := st.chat_input("Posez une question sur les règles d'Optimalis"):
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        history = [{"role": m["role"], "content": m["content"]} for m in st.session_state.messages]
        filters = {"department": DEPARTMENTS[scope]} if DEPARTMENTS[scope] else {}
        try:
            with st.spinner("Recherche dans la documentation…"):
                reply = api_client(API_URL).chat.completions.create(
                    model=MODEL, messages=history, extra_body={"filters": filters} if filters else None
                )
        except openai.OpenAIError as exc:
            st.error(f"L'API ne répond pas : {exc}")
            st.stop()
        content = reply.choices[0].message.content
        sources = (reply.model_extra or {}).get("sources", [])
        st.markdown(content)
        show_sources(sources)
    st.session_state.messages.append({"role": "assistant", "content": content, "sources": sources})

# Le monitoring, en dernier : les chiffres comptent la requête qui vient d'être faite.
with st.sidebar:
    st.header("Monitoring")
    try:
        stats = httpx.get(f"{API_URL}/stats", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        st.caption("Statistiques indisponibles.")
    else:
        st.caption(
            f"Requêtes : {stats['requests']} · sans réponse : {stats['not_found']} · refusées : {stats['rejected']} · "
            f"documents versés : {stats['documents']} · latence médiane : {stats['latency_ms_p50']:.0f} ms"
        )
