"""Backend du chatbot du jour 2 : FastAPI + modèle servi (vLLM) + base vectorielle FAISS + modération.

Le notebook `03-projet-chatbot.ipynb` l'explique pièce par pièce ; l'interface `chatbot_ui.py` (Streamlit) l'appelle.

Lancement seul (le serveur vLLM du cours démarre s'il ne tourne pas encore) :

    python day-02/chatbot_backend.py --port 8000

L'API suit le format d'OpenAI, un client `openai` s'y branche en changeant `base_url` :

- `POST /v1/chat/completions` : la réponse du chatbot, et un champ de plus, `sources` (les passages retrouvés) ;
  une demande refusée par la modération rend `finish_reason="content_filter"` ;
- `POST /v1/moderations` : la modération seule, au format de l'API Moderation d'OpenAI ;
- `GET /v1/models` : le nom du modèle que l'API annonce.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from course_utils import pii, rag, serving

MODEL_ID = "cours/chatbot-rag"
REFUSAL = "Je ne peux pas aider pour cette demande : elle enfreint les règles d'utilisation du service."
NOT_FOUND = "Je ne trouve pas la réponse dans la documentation."
SNIPPET_CHARS = 60  # caractères de chaque passage recopiés dans le prompt


# --- 1. La base vectorielle : FAISS sur les embeddings MiniLM du corpus ---------------------------------------


class FaissStore:
    """Un index FAISS exact (produit scalaire sur des vecteurs unitaires = cosinus) et les textes des documents."""

    def __init__(self, ids: list[str], vectors: np.ndarray, texts: dict[str, str]):
        import faiss

        self.ids, self.texts = list(ids), texts
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, question: str, k: int) -> list[dict]:
        """Les `k` passages les plus proches de la question : identifiant, score (cosinus) et texte."""
        scores, rows = self.index.search(rag.encode([question]), k)
        return [
            {"id": self.ids[row], "score": float(score), "text": self.texts[self.ids[row]]}
            for score, row in zip(scores[0], rows[0], strict=True)
            if row >= 0
        ]


def stdlib_store() -> FaissStore:
    """Le corpus du cours (documentation de la bibliothèque standard), ses embeddings lus dans le cache."""
    ids, vectors = rag.document_embeddings()
    texts = {row["id"]: rag.embedding_text(row) for row in rag.stdlib_documents()}
    return FaissStore(ids, vectors, texts)


# --- 2. La modération : un petit classifieur hors ligne, et les règles de données personnelles --------------


class Moderator:
    """Un classifieur de demandes nuisibles (TF-IDF de mots + régression logistique), entraîné hors ligne.

    Il tient la place de l'API Moderation d'OpenAI (ou d'un garde-fou comme LangGuard) : même entrée (un texte),
    même sortie (`flagged`, des catégories et leurs scores). Ses données : `instructions.refusal_prompts`, des
    demandes nuisibles et leurs sosies bénins qui partagent leurs mots.
    """

    def __init__(self, threshold: float = 0.5, seed: int = 0, n_questions: int = 200):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from course_utils import instructions

        train = instructions.refusal_prompts(seed)["train"]
        # Le trafic réel du chatbot : des questions sur la documentation, légitimes (sans elles, le classifieur n'a
        # vu que du français et juge mal une question en anglais).
        pool = rag.question_pool()
        questions = [pool[i]["question"] for i in rag.draw_questions(n_questions, seed=seed + 1000)]
        texts, labels = list(train["prompt"]) + questions, list(train["harmful"]) + [False] * len(questions)
        self.threshold = threshold
        self.model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=10, max_iter=2000)
        )
        self.model.fit(texts, labels)

    def score(self, text: str) -> float:
        """Probabilité que la demande soit nuisible."""
        return float(self.model.predict_proba([text])[0, 1])

    def moderate(self, text: str) -> dict:
        """Le résultat au format d'OpenAI : `flagged`, `categories`, `category_scores`."""
        score = self.score(text)
        flagged = score >= self.threshold
        return {"flagged": flagged, "categories": {"illicit": flagged}, "category_scores": {"illicit": score}}


ANSWER_PREFIX = "D'après la documentation : "


def moderate_output(text: str, moderator: Moderator) -> str:
    """La sortie filtrée : refusée si elle est nuisible, sinon ses données personnelles masquées (`pii.redact`).

    On ne juge que ce qui vient du modèle et du corpus (le préfixe fixe de la réponse est le nôtre).
    """
    return REFUSAL if moderator.moderate(text.removeprefix(ANSWER_PREFIX))["flagged"] else pii.redact(text)


# --- 3. Le prompt enrichi et le modèle servi ------------------------------------------------------------------


def snippet(text: str) -> str:
    """Le début d'un passage, sur une ligne, sans le nom en tête."""
    return " ".join(text.split(": ", 1)[-1].split())[:SNIPPET_CHARS]


def grounded_prompt(question: str, passages: list[dict]) -> str:
    """Le modèle du cours complète du code : les passages deviennent une liste de candidats, la question un
    commentaire, et le modèle écrit le numéro du bon candidat (le gabarit de la partie 08, chapitre 04)."""
    lines = "".join(f'    "{p["id"]}",  # {snippet(p["text"])}\n' for p in passages)
    return f"candidates = [\n{lines}]\n# {question}\nanswer = candidates["


def served_generate(prompt: str) -> dict:
    """Le modèle servi par vLLM complète le prompt : un numéro, puis il s'arrête au crochet fermant."""
    completion = serving.client(max_retries=0).completions.create(
        model=serving.MODEL_NAME, prompt=prompt, max_tokens=4, temperature=0, stop=["]"]
    )
    usage = completion.usage
    return {
        "text": completion.choices[0].text,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }


def answer_from(raw: str, passages: list[dict]) -> str:
    """Le numéro écrit par le modèle traduit en réponse citant sa source (ou NOT_FOUND)."""
    number = re.match(r"\s*(\d+)", raw)
    if not number or int(number.group(1)) >= len(passages):
        return NOT_FOUND
    chosen = passages[int(number.group(1))]
    return f"{ANSWER_PREFIX}`{chosen['id']}` — {snippet(chosen['text'])}"


# --- 4. Le chatbot et son API ----------------------------------------------------------------------------------


class Chatbot:
    """Modération de l'entrée → recherche → prompt enrichi → modèle servi → modération de la sortie."""

    def __init__(self, store: FaissStore, moderator: Moderator, generate=served_generate, k: int = 4):
        self.store, self.moderator, self.generate, self.k = store, moderator, generate, k

    def answer(self, question: str) -> dict:
        if self.moderator.moderate(question)["flagged"]:
            return {"content": REFUSAL, "sources": [], "finish_reason": "content_filter", "usage": (0, 0)}
        passages = self.store.search(question, self.k)
        out = self.generate(grounded_prompt(question, passages))
        content = moderate_output(answer_from(out["text"], passages), self.moderator)
        if content == REFUSAL:
            return {"content": REFUSAL, "sources": [], "finish_reason": "content_filter", "usage": (0, 0)}
        usage = (out["prompt_tokens"], out["completion_tokens"])
        return {"content": content, "sources": passages, "finish_reason": "stop", "usage": usage}


def error(status: int, message: str, code: str) -> JSONResponse:
    """Une erreur au format d'OpenAI : le client `openai` en fait une exception typée (BadRequestError…)."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    return JSONResponse(body, status_code=status)


def create_app(chatbot: Chatbot) -> FastAPI:
    app = FastAPI(title="Chatbot du jour 2")

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "cours"}]}

    @app.post("/v1/moderations")
    async def moderations(request: Request):
        try:
            body = await request.json()
            texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        except (ValueError, KeyError, TypeError):
            return error(400, "corps attendu : {'input': texte ou liste de textes}", "invalid_input")
        results = [chatbot.moderator.moderate(text) for text in texts]
        return {"id": f"modr-{uuid.uuid4().hex}", "model": "cours/moderation-tfidf", "results": results}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            body = await request.json()
            question = [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]
            assert isinstance(question, str) and question.strip()
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError):
            return error(
                400, "corps attendu : {'messages': [..., {'role': 'user', 'content': '...'}]}", "invalid_messages"
            )
        # la recherche et l'appel au modèle sont bloquants : dans un fil, la boucle reste libre pour les autres requêtes
        result = await asyncio.to_thread(chatbot.answer, question)
        prompt_tokens, completion_tokens = result["usage"]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result["content"]},
                    "finish_reason": result["finish_reason"],
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "sources": result["sources"],
        }

    return app


def build_app(k: int = 4) -> FastAPI:
    """L'application complète : le corpus du cours, le classifieur de modération, le modèle servi."""
    return create_app(Chatbot(stdlib_store(), Moderator(), k=k))


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--k", type=int, default=4, help="passages retrouvés par question")
    args = parser.parse_args()
    uvicorn.run(build_app(args.k), host="127.0.0.1", port=args.port, log_level="warning")
